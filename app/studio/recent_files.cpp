#include "recent_files.h"

#include <QFileInfo>
#include <QMenu>
#include <QSettings>

namespace studio {

namespace {
constexpr int kMaxRecent = 8;
}

RecentFiles::RecentFiles(QMenu* menu) : QObject(menu), menu_(menu) { rebuild(); }

void RecentFiles::add(const QString& path) {
  QSettings s;
  QStringList recent = s.value("recent").toStringList();
  recent.removeAll(path);
  recent.prepend(path);
  while (recent.size() > kMaxRecent) recent.removeLast();
  s.setValue("recent", recent);
  rebuild();
}

void RecentFiles::rebuild() {
  menu_->clear();
  QStringList recent = QSettings().value("recent").toStringList();
  for (int i = 0; i < recent.size(); ++i) {
    QString p = recent[i];
    auto* a = menu_->addAction(QString("&%1 %2").arg(i + 1).arg(QFileInfo(p).fileName()));
    a->setToolTip(p);
    connect(a, &QAction::triggered, this, [this, p] { emit open_requested(p); });
  }
  menu_->setEnabled(!recent.isEmpty());
}

}  // namespace studio
