// File ▸ Open Recent: the last files opened or saved, kept in QSettings (`recent`), newest first.
#pragma once
#include <QObject>
#include <QString>

class QMenu;

namespace studio {

/// Fills `menu` with the recent files and reports which one the user picked.
class RecentFiles : public QObject {
  Q_OBJECT
 public:
  explicit RecentFiles(QMenu* menu);
  /// `path` goes to the top (once); the list keeps the newest eight.
  void add(const QString& path);

 signals:
  void open_requested(QString path);

 private:
  void rebuild();
  QMenu* menu_;
};

}  // namespace studio
