// The studio's main window: the Qt shell around one open circuit. It owns the document (edits,
// undo, analysis), turns it into a scene for the Vulkan canvas after every change, and wires the
// docks: palette, inspector, run plots, search, Lua console, log. Every edit, whichever dock it
// comes from, is a circuit::Command applied here, so undo covers them all.
#pragma once
#include <QMainWindow>
#include <QTimer>
#include <map>
#include <set>
#include <string>

#include "circuit/edit.h"
#include "circuit/hf_import.h"
#include "diagram/diagram.h"
#include "train_dialog.h"
#include "training_job.h"
#include "training_panel.h"

class QAction;
class QLabel;
class QMenu;
class QPlainTextEdit;
class QProgressBar;
class QVulkanInstance;

namespace studio {

class DiagramCanvas;
class Inspector;
class EngineClient;
class LuaConsole;
class Palette;
class ProblemsList;
class RecentFiles;
class RunPlotsWindow;
class SearchPanel;

/// The studio window: one open circuit, its canvas and every dock around it.
class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  /// `interactive` = false (GUI tests): problems go to the log and last_problem() instead of modal
  /// message boxes, and no question is asked (unsaved work is kept in the autosave).
  MainWindow(QVulkanInstance* vulkan, bool interactive = true);
  ~MainWindow() override;

  // File
  bool open_file(const QString& path);
  /// An imported Hugging Face config (from `path`) as an untitled document, or its refusal shown.
  bool show_import(const QString& path, base::Result<circuit::HfImport> imp);
  bool save_to(const QString& path);
  void new_circuit();
  // Editing, as the canvas and docks ask for it
  base::Status apply(circuit::Command cmd);
  /// Adds an op (or "template:ffn") after the single selected node, connected to it.
  std::string add_node(const QString& op);
  void connect_nodes(const QString& from, const QString& to);
  void delete_selection();
  void group_selection();
  void toggle_block(const QString& path);
  void copy_selection();
  void paste();
  void select(const std::set<std::string>& nodes);
  // Run
  bool start_training(const RunSettings& s);
  void set_dark(bool dark);
  bool export_diagram(const QString& path);
  bool export_model(const QString& path);

  const circuit::Document& document() const { return doc_; }
  const QString& file_path() const { return path_; }
  const circuit::diagram::Scene& scene() const { return scene_; }
  DiagramCanvas* canvas() const { return canvas_; }
  RunPlotsWindow* run_plots() const;
  SearchPanel* search_panel() const { return search_; }
  LuaConsole* console() const { return console_; }
  TrainingJob& training();
  /// The window's engine process: training, export and the Lua console run in it.
  EngineClient* engine() const { return engine_; }
  /// The engine process the Search dock's studies run in.
  EngineClient* search_engine() const { return search_engine_; }
  /// Where later jobs run: "" for this machine, or an ssh destination and its `circuit`.
  void set_engine_location(const QString& host, const QString& circuit = "circuit");
  const QString& last_problem() const { return last_problem_; }
  QAction* action(const QString& name) const;  // by objectName, for tests and menus
  /// The window as the user sees it. QWidget::grab leaves native Vulkan windows blank, so their
  /// own grabs are painted in where their containers sit.
  QImage screenshot();
  static QString autosave_path();

 signals:
  void scene_changed();
  void training_finished(QString status);

 protected:
  void closeEvent(QCloseEvent* e) override;

 private:
  void build_actions();
  void build_docks();
  void refresh();
  void update_title();
  void problem(const QString& title, const QString& text);
  void log(const QString& text);
  bool maybe_save();
  bool save();
  bool save_as();
  void open_dialog();
  void import_dialog();
  void autosave();
  void offer_recovery();
  /// Shows `doc` (from `path`, empty when it has none) with nothing folded, selected or overlaid.
  void show_document(circuit::Document doc, const QString& path);

  QVulkanInstance* vulkan_ = nullptr;
  bool interactive_ = true;
  circuit::Document doc_;
  QString path_;
  circuit::diagram::Scene scene_;
  std::set<std::string> selection_;
  circuit::diagram::Folding folding_;
  bool dark_ = false;
  QString last_problem_;
  QTimer autosave_timer_;

  DiagramCanvas* canvas_ = nullptr;
  Inspector* inspector_ = nullptr;
  Palette* palette_ = nullptr;
  EngineClient* engine_ = nullptr;         // training, export, the Lua console
  EngineClient* search_engine_ = nullptr;  // the Search dock's studies
  TrainingPanel* training_ = nullptr;
  SearchPanel* search_ = nullptr;
  LuaConsole* console_ = nullptr;
  QPlainTextEdit* log_ = nullptr;
  ProblemsList* problems_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  RecentFiles* recent_ = nullptr;
  QMenu* view_menu_ = nullptr;
};

}  // namespace studio
