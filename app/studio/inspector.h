// The inspector dock: the selected node's name, inputs, attributes (edited with the registry's
// types, ranges and choices), inferred output types, cost and its error. Every change is a
// circuit::Command handed to the main window, so it goes through the document's undo history.
#pragma once
#include <QLabel>
#include <QListWidget>
#include <QWidget>
#include <string>

#include "circuit/edit.h"

class QFormLayout;
class QVBoxLayout;

namespace studio {

/// Edits one node. Rebuilt by show_node() after every document change.
class Inspector : public QWidget {
  Q_OBJECT
 public:
  explicit Inspector(QWidget* parent = nullptr);
  /// Shows `path` of `doc`; an empty path shows the circuit's summary.
  void show_node(const circuit::Document& doc, const std::string& path);
  const std::string& path() const { return path_; }
  /// Shown under the fields until the next show_node: why the last edit was refused.
  void show_problem(const QString& text);

 signals:
  void command(circuit::Command cmd);

 private:
  void clear_form();
  QWidget* attr_editor(const circuit::AttrSpec& spec, const circuit::Node& node);

  std::string path_;
  QVBoxLayout* outer_ = nullptr;
  QWidget* form_host_ = nullptr;
  QFormLayout* form_ = nullptr;
  QLabel* problem_ = nullptr;
};

/// The Problems dock: every diagnostic of the circuit; activating one selects its node.
class ProblemsList : public QListWidget {
  Q_OBJECT
 public:
  explicit ProblemsList(QWidget* parent = nullptr);
  void show_problems(const circuit::Document& doc);

 signals:
  void node_activated(std::string path);
};

}  // namespace studio
