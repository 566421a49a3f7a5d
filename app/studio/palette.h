// The palette dock: every op of the registry grouped by category, plus block templates, with a
// search field (type a few letters, Enter adds the first match). Double-click or Enter adds after
// the selection; dragging an entry onto the canvas adds it where it is dropped (after the node it
// is dropped on). Adding goes through the main window, which places and connects the node.
#pragma once
#include <QWidget>

class QLineEdit;
class QTreeWidget;

namespace studio {

/// Template entries are named "template:ffn" and "template:glu_ffn"; the rest are op names.
class Palette : public QWidget {
  Q_OBJECT
 public:
  explicit Palette(QWidget* parent = nullptr);
  /// Focuses the search field (Ctrl+K / "/").
  void focus_search();

 signals:
  void add_requested(QString op);

 private:
  void filter(const QString& text);
  QLineEdit* search_ = nullptr;
  QTreeWidget* tree_ = nullptr;
};

}  // namespace studio
