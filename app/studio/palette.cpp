#include "palette.h"

#include <QHeaderView>
#include <QKeyEvent>
#include <QLineEdit>
#include <QMimeData>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <map>

#include "canvas/canvas_window.h"
#include "circuit/op.h"
#include "circuit/templates.h"

namespace studio {

namespace {

// Dragging an op carries its name, which the canvas turns into a new node where it is dropped.
class OpTree : public QTreeWidget {
 protected:
  QStringList mimeTypes() const override { return {kDropMime}; }
  QMimeData* mimeData(const QList<QTreeWidgetItem*>& items) const override {
    if (items.isEmpty() || items[0]->data(0, Qt::UserRole).toString().isEmpty()) return nullptr;
    auto* m = new QMimeData;
    m->setData(kDropMime, items[0]->data(0, Qt::UserRole).toString().toUtf8());
    return m;
  }
};

}  // namespace

Palette::Palette(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  search_ = new QLineEdit;
  search_->setObjectName("palette_search");
  search_->setPlaceholderText("Search ops (Enter adds)");
  search_->setClearButtonEnabled(true);
  tree_ = new OpTree;
  tree_->setObjectName("palette_tree");
  tree_->setDragEnabled(true);
  tree_->setDragDropMode(QAbstractItemView::DragOnly);
  tree_->setHeaderHidden(true);
  tree_->setRootIsDecorated(true);
  layout->addWidget(search_);
  layout->addWidget(tree_);

  std::map<std::string, QTreeWidgetItem*> groups;
  auto group = [&](const std::string& name) {
    auto& g = groups[name];
    if (!g) {
      g = new QTreeWidgetItem(tree_, {QString::fromStdString(name)});
      g->setFlags(Qt::ItemIsEnabled);
      g->setExpanded(true);
    }
    return g;
  };
  for (const circuit::OpDef* op : circuit::all_ops()) {
    if (op->name == "input") continue;  // inputs come with New and the circuit's signature
    auto* item = new QTreeWidgetItem(group(circuit::to_string(op->category)), {QString::fromStdString(op->name)});
    item->setData(0, Qt::UserRole, QString::fromStdString(op->name));
    item->setToolTip(0, QString::fromStdString(op->doc));
  }
  for (auto [label, key] : {std::pair{"FFN block", "template:ffn"}, std::pair{"GLU FFN block", "template:glu_ffn"}}) {
    auto* item = new QTreeWidgetItem(group("templates"), {label});
    item->setData(0, Qt::UserRole, QString(key));
    item->setToolTip(0, "A block you can open and edit: linear, activation, linear over the last axis");
  }
  for (const char* mixer : circuit::kMetaformerMixers) {
    auto* item = new QTreeWidgetItem(group("templates"), {QString("MetaFormer block · %1").arg(mixer)});
    item->setData(0, Qt::UserRole, QString("template:metaformer:%1").arg(mixer));
    item->setToolTip(0, QString("x + %1(norm(x)), then + FFN(norm(.)): a block you can open and edit").arg(mixer));
  }

  connect(tree_, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* item) {
    QString op = item->data(0, Qt::UserRole).toString();
    if (!op.isEmpty()) emit add_requested(op);
  });
  connect(search_, &QLineEdit::textChanged, this, &Palette::filter);
  connect(search_, &QLineEdit::returnPressed, this, [this] {
    for (QTreeWidgetItemIterator it(tree_); *it; ++it)
      if (!(*it)->isHidden() && !(*it)->data(0, Qt::UserRole).toString().isEmpty()) {
        emit add_requested((*it)->data(0, Qt::UserRole).toString());
        return;
      }
  });
}

void Palette::focus_search() {
  search_->setFocus();
  search_->selectAll();
}

void Palette::filter(const QString& text) {
  for (int g = 0; g < tree_->topLevelItemCount(); ++g) {
    QTreeWidgetItem* group = tree_->topLevelItem(g);
    int shown = 0;
    for (int k = 0; k < group->childCount(); ++k) {
      QTreeWidgetItem* item = group->child(k);
      bool match = text.isEmpty() || item->text(0).contains(text, Qt::CaseInsensitive) ||
                   item->data(0, Qt::UserRole).toString().contains(text, Qt::CaseInsensitive);
      item->setHidden(!match);
      shown += match;
    }
    group->setHidden(shown == 0);
  }
}

}  // namespace studio
