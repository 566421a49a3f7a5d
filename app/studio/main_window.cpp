#include "main_window.h"

#include "engine/data.h"

#include "device_choice.h"

#include <functional>

#include <QAction>
#include <QApplication>
#include <QScreen>
#include <QClipboard>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTime>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPainter>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyleFactory>
#include <QToolBar>

#include "base/file.h"
#include "base/paths.h"
#include "canvas/canvas_window.h"
#include "circuit/circuit_file.h"
#include "circuit/op.h"
#include "circuit/selection.h"
#include "circuit/templates.h"
#include "diagram/render.h"
#include "engine/experiment.h"
#include "engine/export.h"
#include "inspector.h"
#include "lua_console.h"
#include "palette.h"
#include "plots/run_plots.h"
#include "plots/search_plots.h"
#include "search_panel.h"
#include "theme.h"

namespace studio {

namespace {

constexpr int kMaxRecent = 8;
const char* kNodesMime = "application/x-circuit-studio-nodes";

std::string parent_of(const std::string& path) { return circuit::split_path(path).parent; }
std::string leaf_of(const std::string& path) { return circuit::split_path(path).name; }

// Paths of every block (and MoE expert) that can be drawn open or closed.
// Paths of the nodes, bodies included, that `keep` picks.
void node_paths(const circuit::Graph& g, const std::string& prefix, const std::function<bool(const circuit::Node&)>& keep,
                std::set<std::string>& out) {
  for (auto& n : g.nodes) {
    std::string p = prefix.empty() ? n.name : prefix + "/" + n.name;
    if (keep(n)) out.insert(p);
    if (n.body) node_paths(*n.body, p, keep, out);
  }
}
// Blocks and MoE nodes (drawn open or closed), and ops drawn open to their parts (the mixers).
bool has_body(const circuit::Node& n) { return bool(n.body); }
bool has_parts(const circuit::Node& n) {
  const circuit::OpDef* def = circuit::find_op(n.op);
  return def && def->parts;
}

circuit::Circuit example_circuit() {
  if (auto c = circuit::load_circuit(base::data_path("examples/moe_mlp.circuit.json"))) return *c;
  return {};
}

}  // namespace

MainWindow::MainWindow(QVulkanInstance* vulkan, bool interactive) : vulkan_(vulkan), interactive_(interactive) {
  setObjectName("main_window");
  QSettings settings;
  dark_ = settings.value("theme/dark", false).toBool();
  run_settings_ = load_run_settings(settings);

  canvas_ = new DiagramCanvas();
  canvas_->setVulkanInstance(vulkan_);
  QWidget* container = QWidget::createWindowContainer(canvas_, this);
  container->setObjectName("canvas_container");
  container->setProperty("embedded", QVariant::fromValue<QObject*>(canvas_));  // for screenshot()
  container->setFocusPolicy(Qt::StrongFocus);
  container->setMinimumSize(400, 300);
  setCentralWidget(container);

  build_docks();
  build_actions();

  connect(canvas_, &DiagramCanvas::selection_changed, this, [this](const QStringList& nodes) {
    selection_.clear();
    for (auto& n : nodes) selection_.insert(n.toStdString());
    inspector_->show_node(doc_, selection_.size() == 1 ? *selection_.begin() : std::string());
  });
  connect(canvas_, &DiagramCanvas::node_activated, this, &MainWindow::toggle_block);
  connect(canvas_, &DiagramCanvas::connect_requested, this, &MainWindow::connect_nodes);
  connect(canvas_, &DiagramCanvas::delete_requested, this, &MainWindow::delete_selection);
  connect(canvas_, &DiagramCanvas::drop_requested, this, [this](const QString& op, const QString& onto, QPointF) {
    // Dropped on a node: the new one follows it; on empty space: it stands alone.
    select(onto.isEmpty() ? std::set<std::string>{} : std::set<std::string>{onto.toStdString()});
    add_node(op);
  });
  connect(inspector_, &Inspector::command, this, [this](circuit::Command c) { apply(std::move(c)); });
  connect(palette_, &Palette::add_requested, this, [this](const QString& op) { add_node(op); });
  connect(&job_, &TrainingJob::events_arrived, this, &MainWindow::on_training_events);
  connect(&job_, &TrainingJob::finished, this, &MainWindow::on_training_finished);
  connect(console_, &LuaConsole::line_entered, this, [this](const QString& code) {
    if (code.isEmpty()) {
      QString file = QFileDialog::getOpenFileName(this, "Run Lua script", QString(), "Lua scripts (*.lua)");
      if (!file.isEmpty()) console_->run_file(file, doc_.circuit());
    } else {
      console_->run(code, doc_.circuit());
    }
  });
  connect(console_, &LuaConsole::circuit_changed, this, [this](circuit::Circuit c) {
    if (auto s = apply(circuit::ReplaceGraph{"", std::move(c.graph)}); !s) log("Lua: the changed circuit was not applied: " + QString::fromStdString(s.error));
  });
  connect(search_, &SearchPanel::open_trial, this, [this](const QString& text, const QString& title) {
    if (!maybe_save()) return;
    auto c = circuit::parse_circuit(text.toStdString(), title.toStdString());
    if (!c) return problem("Cannot open the trial", QString::fromStdString(c.error().message));
    doc_ = circuit::Document(std::move(*c));
    path_.clear();
    collapsed_.clear(), opened_.clear(), selection_.clear(), overlay_.clear();
    scene_ = {};
    refresh();
    canvas_->frame_all();
    log("opened " + title + " (save it to keep it)");
  });

  autosave_timer_.setInterval(30'000);
  connect(&autosave_timer_, &QTimer::timeout, this, &MainWindow::autosave);
  autosave_timer_.start();
  // Expert-load badges change every step; redrawing the diagram twice a second is plenty.
  overlay_timer_.setInterval(500);
  connect(&overlay_timer_, &QTimer::timeout, this, [this] {
    if (overlay_dirty_) overlay_dirty_ = false, refresh();
  });
  overlay_timer_.start();

  restoreGeometry(settings.value("window/geometry").toByteArray());
  restoreState(settings.value("window/state").toByteArray());
  if (!settings.contains("window/geometry")) {
    // First start: most of the screen, and the canvas gets most of the window.
    QSize avail = screen() ? screen()->availableGeometry().size() : QSize(1400, 900);
    resize(std::max(1000, avail.width() * 9 / 10), std::max(700, avail.height() * 9 / 10));
    resizeDocks({findChild<QDockWidget*>("dock_palette"), findChild<QDockWidget*>("dock_inspector")}, {190, 280}, Qt::Horizontal);
    resizeDocks({findChild<QDockWidget*>("dock_training")}, {240}, Qt::Vertical);
  }

  doc_ = circuit::Document(example_circuit());
  doc_.mark_saved();
  set_dark(dark_);
  refresh();
  QTimer::singleShot(0, this, &MainWindow::offer_recovery);
}

MainWindow::~MainWindow() {
  job_.cancel();
  search_->cancel();
}

QAction* MainWindow::action(const QString& name) const { return findChild<QAction*>(name); }

QImage MainWindow::screenshot() {
  QImage img = grab().toImage().convertToFormat(QImage::Format_RGB32);
  QPainter p(&img);
  for (QWidget* c : findChildren<QWidget*>()) {
    QObject* native = c->property("embedded").value<QObject*>();
    if (!native || !c->isVisible()) continue;
    QImage inner;
    if (native == canvas_) inner = canvas_->grab_image();
    else if (auto* plots = qobject_cast<ImGuiVulkanWindow*>(native); plots && plots->isExposed()) inner = plots->grab_image();
    if (!inner.isNull()) p.drawImage(QRect(c->mapTo(this, QPoint(0, 0)), c->size()), inner);
  }
  return img;
}

void MainWindow::build_docks() {
  auto dock = [this](const QString& title, const QString& name, QWidget* w, Qt::DockWidgetArea area) {
    auto* d = new QDockWidget(title, this);
    d->setObjectName(name);
    d->setWidget(w);
    addDockWidget(area, d);
    return d;
  };
  palette_ = new Palette;
  dock("Palette", "dock_palette", palette_, Qt::LeftDockWidgetArea);
  inspector_ = new Inspector;
  dock("Inspector", "dock_inspector", inspector_, Qt::RightDockWidgetArea);
  problems_ = new QListWidget;
  problems_->setObjectName("problems");
  problems_->setWordWrap(true);
  problems_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  dock("Problems", "dock_problems", problems_, Qt::RightDockWidgetArea);
  connect(problems_, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
    std::string node = item->data(Qt::UserRole).toString().toStdString();
    if (!node.empty()) select({node});
  });

  run_plots_ = new RunPlotsWindow();
  run_plots_->setVulkanInstance(vulkan_);
  QWidget* plots = QWidget::createWindowContainer(run_plots_);
  plots->setProperty("embedded", QVariant::fromValue<QObject*>(run_plots_));
  plots->setMinimumSize(300, 220);
  auto* run_dock = dock("Training", "dock_training", plots, Qt::BottomDockWidgetArea);
  search_ = new SearchPanel(vulkan_);
  auto* search_dock = dock("Search", "dock_search", search_, Qt::BottomDockWidgetArea);
  console_ = new LuaConsole;
  auto* console_dock = dock("Lua console", "dock_console", console_, Qt::BottomDockWidgetArea);
  log_ = new QPlainTextEdit;
  log_->setObjectName("log");
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(2000);
  auto* log_dock = dock("Log", "dock_log", log_, Qt::BottomDockWidgetArea);
  tabifyDockWidget(run_dock, search_dock);
  tabifyDockWidget(search_dock, console_dock);
  tabifyDockWidget(console_dock, log_dock);
  run_dock->raise();

  progress_ = new QProgressBar;
  progress_->setMaximumWidth(220);
  progress_->setTextVisible(true);
  progress_->hide();
  status_ = new QLabel;
  statusBar()->addWidget(status_, 1);
  statusBar()->addPermanentWidget(progress_);
}

void MainWindow::build_actions() {
  auto make = [this](QMenu* menu, const QString& text, const QString& name, QKeySequence key, auto slot) {
    auto* a = new QAction(text, this);
    a->setObjectName(name);
    if (!key.isEmpty()) a->setShortcut(key);
    connect(a, &QAction::triggered, this, slot);
    menu->addAction(a);
    return a;
  };
  QMenu* file = menuBar()->addMenu("&File");
  make(file, "&New", "new", QKeySequence::New, [this] { if (maybe_save()) new_circuit(); });
  make(file, "&Open…", "open", QKeySequence::Open, [this] { open_dialog(); });
  recent_menu_ = file->addMenu("Open &Recent");
  make(file, "&Save", "save", QKeySequence::Save, [this] { save(); });
  make(file, "Save &As…", "save_as", QKeySequence::SaveAs, [this] { save_as(); });
  file->addSeparator();
  QMenu* exp = file->addMenu("&Export");
  make(exp, "Diagram (SVG, PDF, PNG)…", "export_diagram", QKeySequence("Ctrl+E"), [this] {
    QString p = QFileDialog::getSaveFileName(this, "Export diagram", QFileInfo(path_).completeBaseName() + ".svg",
                                             "SVG (*.svg);;PDF (*.pdf);;PNG (*.png)");
    if (!p.isEmpty()) export_diagram(p);
  });
  make(exp, "Trained model (TorchScript .pt, ONNX .onnx)…", "export_model", QKeySequence(), [this] {
    QString p = QFileDialog::getSaveFileName(this, "Export trained model", "model.pt", "TorchScript (*.pt);;ONNX (*.onnx)");
    if (!p.isEmpty()) export_model(p);
  });
  make(exp, "Search results (CSV)…", "export_csv", QKeySequence(), [this] {
    QString p = QFileDialog::getSaveFileName(this, "Export trials", "trials.csv", "CSV (*.csv)");
    if (!p.isEmpty()) {
      if (QString err = search_->export_csv(p); !err.isEmpty()) problem("Export failed", err);
      else log("wrote " + p);
    }
  });
  file->addSeparator();
  make(file, "&Quit", "quit", QKeySequence::Quit, [this] { close(); });

  QMenu* edit = menuBar()->addMenu("&Edit");
  make(edit, "&Undo", "undo", QKeySequence::Undo, [this] {
    if (doc_.undo()) refresh();
  });
  auto* redo = make(edit, "&Redo", "redo", QKeySequence(), [this] {
    if (doc_.redo()) refresh();
  });
  redo->setShortcuts({QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")});
  edit->addSeparator();
  make(edit, "Cu&t", "cut", QKeySequence::Cut, [this] { copy_selection(), delete_selection(); });
  make(edit, "&Copy", "copy", QKeySequence::Copy, [this] { copy_selection(); });
  make(edit, "&Paste", "paste", QKeySequence::Paste, [this] { paste(); });
  auto* del = make(edit, "&Delete", "delete", QKeySequence::Delete, [this] { delete_selection(); });
  del->setShortcutContext(Qt::WidgetWithChildrenShortcut);  // the canvas handles Delete itself
  edit->addSeparator();
  make(edit, "&Group into block", "group", QKeySequence("Ctrl+G"), [this] { group_selection(); });
  make(edit, "U&ngroup block", "ungroup", QKeySequence("Ctrl+Shift+G"), [this] {
    if (selection_.size() == 1) apply(circuit::Ungroup{*selection_.begin()});
  });
  make(edit, "Add node…", "add_node", QKeySequence("Ctrl+K"), [this] { palette_->focus_search(); });

  view_menu_ = menuBar()->addMenu("&View");
  make(view_menu_, "&Frame all", "frame", QKeySequence("F"), [this] { canvas_->frame_all(); });
  make(view_menu_, "Open all blocks", "expand_all", QKeySequence(), [this] { collapsed_.clear(), refresh(); });
  make(view_menu_, "Close all blocks", "collapse_all", QKeySequence(), [this] {
    collapsed_.clear(), opened_.clear();
    node_paths(doc_.circuit().graph, "", has_body, collapsed_);
    refresh();
  });
  make(view_menu_, "Open all mixers to their parts", "open_mixers", QKeySequence(), [this] {
    node_paths(doc_.circuit().graph, "", has_parts, opened_);
    refresh();
  });
  auto* theme = make(view_menu_, "&Dark theme", "dark", QKeySequence("Ctrl+Shift+D"), [this](bool on) { set_dark(on); });
  theme->setCheckable(true);
  theme->setChecked(dark_);
  view_menu_->addSeparator();
  for (auto* d : findChildren<QDockWidget*>()) view_menu_->addAction(d->toggleViewAction());

  QMenu* run = menuBar()->addMenu("&Run");
  make(run, "&Train…", "train", QKeySequence("Ctrl+R"), [this] { run_dialog(); });
  make(run, "&Cancel training", "cancel", QKeySequence("Ctrl+."), [this] { job_.cancel(); });
  QMenu* help = menuBar()->addMenu("&Help");
  make(help, "About Circuit Studio", "about", QKeySequence(), [this] {
    QMessageBox::about(this, "Circuit Studio",
                       "Circuit Studio " CIRCUIT_VERSION "\nDraw, train and search neural circuit diagrams.\n"
                       "LibTorch on the CPU; the `circuit` CLI does everything headless.");
  });

  QToolBar* tb = addToolBar("Main");
  tb->setObjectName("toolbar_main");
  for (const char* name : {"new", "open", "save", "undo", "redo", "frame", "train", "cancel"}) tb->addAction(action(name));
  rebuild_recent_menu();
  action("cancel")->setEnabled(false);  // until a run starts
}

void MainWindow::set_dark(bool dark) {
  dark_ = dark;
  apply_theme(*qApp, dark);
  canvas_->set_dark(dark);
  run_plots_->set_dark(dark);
  search_->set_dark(dark);
  if (auto* a = action("dark")) a->setChecked(dark);
  QSettings().setValue("theme/dark", dark);
}

circuit::diagram::Expansion MainWindow::expansion() const {
  circuit::diagram::Expansion e;
  e.parts = opened_;
  if (collapsed_.empty()) return e;
  std::set<std::string> all;
  node_paths(doc_.circuit().graph, "", has_body, all);
  e.mode = circuit::diagram::Expansion::Mode::listed;
  for (auto& p : all) {
    bool closed = false;  // a block inside a closed one is hidden anyway
    for (auto& c : collapsed_) closed |= p == c || p.rfind(c + "/", 0) == 0;
    if (!closed) e.blocks.insert(p);
  }
  return e;
}

void MainWindow::refresh() {
  circuit::diagram::DiagramOptions o;
  o.expand = expansion();
  o.overlay = overlay_;
  o.hint = &scene_.memory;
  circuit::diagram::Scene next = circuit::diagram::build_scene(doc_.circuit(), doc_.analysis(), o);
  scene_ = std::move(next);
  canvas_->set_scene(scene_);
  // Selection of nodes that are gone (undo, delete) is dropped.
  std::set<std::string> kept;
  for (auto& s : selection_)
    if (view_node(doc_, s).node) kept.insert(s);
  selection_ = kept;
  canvas_->set_selection(selection_);
  inspector_->show_node(doc_, selection_.size() == 1 ? *selection_.begin() : std::string());

  problems_->clear();
  for (auto& d : doc_.analysis().diagnostics(doc_.circuit().graph)) {
    auto* item = new QListWidgetItem(QString::fromStdString(d.message), problems_);
    item->setData(Qt::UserRole, QString::fromStdString(d.node));
    item->setForeground(QColor(0xd0, 0x30, 0x30));
  }
  auto* undo = action("undo");
  auto* redo = action("redo");
  if (undo) undo->setEnabled(doc_.can_undo()), undo->setText(doc_.can_undo() ? "&Undo " + QString::fromStdString(doc_.undo_label()) : "&Undo");
  if (redo) redo->setEnabled(doc_.can_redo()), redo->setText(doc_.can_redo() ? "&Redo " + QString::fromStdString(doc_.redo_label()) : "&Redo");
  update_title();
  emit scene_changed();
}

void MainWindow::update_title() {
  QString name = path_.isEmpty() ? QString::fromStdString(doc_.circuit().name.empty() ? "untitled" : doc_.circuit().name)
                                 : QFileInfo(path_).fileName();
  setWindowTitle(name + "[*] — Circuit Studio");
  setWindowModified(doc_.modified());
}

void MainWindow::log(const QString& text) {
  log_->appendPlainText(QDateTime::currentDateTime().toString("HH:mm:ss  ") + text);
}

void MainWindow::problem(const QString& title, const QString& text) {
  last_problem_ = text;
  log(title + ": " + text);
  status_->setText(title);
  if (interactive_) QMessageBox::warning(this, title, text);
}

base::Status MainWindow::apply(circuit::Command cmd) {
  std::string label = circuit::describe(cmd);
  base::Status s = doc_.apply(std::move(cmd));
  if (!s) {
    inspector_->show_problem(QString::fromStdString(s.error));
    status_->setText(QString::fromStdString(label) + " refused: " + QString::fromStdString(s.error));
    last_problem_ = QString::fromStdString(s.error);
    return s;
  }
  refresh();
  return s;
}

// --- files ---------------------------------------------------------------------------------

void MainWindow::new_circuit() {
  circuit::Circuit c;
  c.name = "untitled";
  circuit::TensorType t;
  t.axes = {*circuit::parse_axis("batch"), *circuit::parse_axis("pixels:784")};
  c.graph.nodes.push_back(circuit::input_node("x", t));
  c.graph.outputs = {{"x", 0}};
  doc_ = circuit::Document(std::move(c));
  path_.clear();
  collapsed_.clear(), opened_.clear(), selection_.clear(), overlay_.clear();
  scene_ = {};
  refresh();
  canvas_->frame_all();
}

bool MainWindow::open_file(const QString& path) {
  auto c = circuit::load_circuit(path.toStdString());
  if (!c) {
    // The open document stays as it was: a bad file never costs work.
    problem("Cannot open " + QFileInfo(path).fileName(), QString::fromStdString(c.error().message));
    return false;
  }
  doc_ = circuit::Document(std::move(*c));
  path_ = QFileInfo(path).absoluteFilePath();
  collapsed_.clear(), opened_.clear(), selection_.clear(), overlay_.clear();
  scene_ = {};
  run_plots_->clear();
  refresh();
  canvas_->frame_all();
  add_recent(path_);
  log("opened " + path_);
  return true;
}

bool MainWindow::save_to(const QString& path) {
  if (auto s = circuit::save_circuit(doc_.circuit(), path.toStdString()); !s) {
    problem("Cannot save", QString::fromStdString(s.error));
    return false;
  }
  path_ = QFileInfo(path).absoluteFilePath();
  doc_.mark_saved();
  QFile::remove(autosave_path());
  add_recent(path_);
  update_title();
  log("saved " + path_);
  return true;
}

bool MainWindow::save() { return path_.isEmpty() ? save_as() : save_to(path_); }

bool MainWindow::save_as() {
  QString p = QFileDialog::getSaveFileName(this, "Save circuit", path_.isEmpty() ? "untitled.circuit.json" : path_,
                                           "Circuits (*.circuit.json);;JSON (*.json)");
  return !p.isEmpty() && save_to(p);
}

void MainWindow::open_dialog() {
  if (!maybe_save()) return;
  QString dir = path_.isEmpty() ? QString::fromStdString(base::data_path("examples")) : QFileInfo(path_).absolutePath();
  QString p = QFileDialog::getOpenFileName(this, "Open circuit", dir, "Circuits (*.circuit.json *.json)");
  if (!p.isEmpty()) open_file(p);
}

bool MainWindow::maybe_save() {
  if (!doc_.modified()) return true;
  if (!interactive_) {
    autosave();  // nobody to ask: keep the work where recovery finds it
    return true;
  }
  auto answer = QMessageBox::question(this, "Unsaved changes", "Save the changes to " + windowTitle().remove("[*]").remove(" — Circuit Studio") + "?",
                                      QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Save);
  if (answer == QMessageBox::Cancel) return false;
  if (answer == QMessageBox::Save) return save();
  QFile::remove(autosave_path());
  return true;
}

void MainWindow::add_recent(const QString& path) {
  QSettings s;
  QStringList recent = s.value("recent").toStringList();
  recent.removeAll(path);
  recent.prepend(path);
  while (recent.size() > kMaxRecent) recent.removeLast();
  s.setValue("recent", recent);
  rebuild_recent_menu();
}

void MainWindow::rebuild_recent_menu() {
  recent_menu_->clear();
  QStringList recent = QSettings().value("recent").toStringList();
  for (int i = 0; i < recent.size(); ++i) {
    QString p = recent[i];
    auto* a = recent_menu_->addAction(QString("&%1 %2").arg(i + 1).arg(QFileInfo(p).fileName()));
    a->setToolTip(p);
    connect(a, &QAction::triggered, this, [this, p] {
      if (maybe_save()) open_file(p);
    });
  }
  recent_menu_->setEnabled(!recent.isEmpty());
}

QString MainWindow::autosave_path() {
  QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
  QDir().mkpath(dir);
  return dir + "/autosave.circuit.json";
}

void MainWindow::autosave() {
  if (!doc_.modified()) return;
  // The file records where the work came from, so recovery can offer to save it back there.
  circuit::Circuit c = doc_.circuit();
  if (!path_.isEmpty()) c.doc = "autosave of " + path_.toStdString() + (c.doc.empty() ? "" : "\n" + c.doc);
  if (auto s = base::write_file_atomic(autosave_path().toStdString(), circuit::circuit_to_text(c)); !s)
    log("autosave failed: " + QString::fromStdString(s.error));
}

void MainWindow::offer_recovery() {
  QString p = autosave_path();
  if (!QFile::exists(p)) return;
  auto c = circuit::load_circuit(p.toStdString());
  if (!c) return log("an autosave exists but cannot be read: " + QString::fromStdString(c.error().message));
  QString when = QFileInfo(p).lastModified().toString("yyyy-MM-dd HH:mm");
  if (interactive_ && QMessageBox::question(this, "Recover unsaved work",
                                            "Circuit Studio did not close cleanly. Recover the unsaved circuit `" +
                                                QString::fromStdString(c->name) + "` from " + when + "?") != QMessageBox::Yes) {
    QFile::remove(p);
    return;
  }
  std::string origin;
  if (c->doc.rfind("autosave of ", 0) == 0) {
    size_t nl = c->doc.find('\n');
    origin = c->doc.substr(12, nl == std::string::npos ? std::string::npos : nl - 12);
    c->doc = nl == std::string::npos ? "" : c->doc.substr(nl + 1);
  }
  // Recovered work counts as unsaved: a dummy edit-free document would hide it from the prompt.
  circuit::Document recovered(std::move(*c));
  doc_ = circuit::Document();
  doc_ = std::move(recovered);
  path_ = QString::fromStdString(origin);
  collapsed_.clear(), opened_.clear(), selection_.clear(), overlay_.clear();
  scene_ = {};
  refresh();
  canvas_->frame_all();
  setWindowModified(true);
  log("recovered unsaved work from " + when + (origin.empty() ? "" : " (of " + QString::fromStdString(origin) + ")"));
}

void MainWindow::closeEvent(QCloseEvent* e) {
  if (!maybe_save()) return e->ignore();
  job_.cancel();
  search_->cancel();
  QSettings s;
  s.setValue("window/geometry", saveGeometry());
  s.setValue("window/state", saveState());
  if (interactive_ || !doc_.modified()) QFile::remove(autosave_path());
  e->accept();
}

// --- editing -------------------------------------------------------------------------------

std::string MainWindow::selection_parent() const {
  return selection_.empty() ? "" : parent_of(*selection_.begin());
}

void MainWindow::select(const std::set<std::string>& nodes) {
  selection_ = nodes;
  canvas_->set_selection(nodes);
  inspector_->show_node(doc_, nodes.size() == 1 ? *nodes.begin() : std::string());
}

std::string MainWindow::add_node(const QString& op_name) {
  std::string op = op_name.toStdString();
  std::string parent = selection_.size() == 1 ? parent_of(*selection_.begin()) : "";
  const circuit::Graph* g = circuit::graph_at(doc_.circuit().graph, parent);
  if (!g) return {};
  // The new node follows the selected one: its first input is the selection's first output.
  const circuit::TensorType* in_type = nullptr;
  circuit::PortRef source;
  if (selection_.size() == 1) {
    NodeView v = view_node(doc_, *selection_.begin());
    if (v.node) {
      source = {v.node->name, 0};
      if (v.info && !v.info->outputs.empty()) in_type = &v.info->outputs[0];
    }
  }
  auto made = circuit::palette_node(*g, op, in_type, doc_.bindings());
  if (!made) return problem(op.rfind("template:", 0) == 0 && !in_type ? "Select a node first" : "Cannot add",
                            QString::fromStdString(made.error().message)), std::string();
  circuit::Node n = std::move(*made);
  if (source.connected()) {
    if (n.inputs.empty()) n.inputs.resize(1);
    n.inputs[0] = source;
  }
  // After the selection: wired to it, and in its place as a graph output (circuit::insert_after).
  if (source.connected()) {
    std::string path;
    auto cmd = circuit::insert_after(doc_.circuit(), circuit::join_path(parent, source.node), std::move(n), &path);
    if (!cmd) return problem("Cannot add", QString::fromStdString(cmd.error().message)), std::string();
    if (!apply(std::move(*cmd))) return {};
    select({path});
    return path;
  }
  std::string path = circuit::join_path(parent, n.name);
  if (!apply(circuit::AddNode{parent, std::move(n), -1, {}, {}})) return {};
  select({path});
  return path;
}

void MainWindow::connect_nodes(const QString& from_q, const QString& to_q) {
  std::string from = from_q.toStdString(), to = to_q.toStdString();
  if (parent_of(from) != parent_of(to)) {
    status_->setText("Wires connect nodes of the same graph level; open the block to wire inside it.");
    return;
  }
  NodeView v = view_node(doc_, to);
  if (!v.node || from == to) return;
  auto in = circuit::wire_into(*v.node, circuit::PortRef{leaf_of(from), 0});
  if (!in) return;  // already connected
  apply(circuit::SetInputs{to, *in});
}

void MainWindow::delete_selection() {
  if (selection_.empty()) return;
  std::string parent = selection_parent();
  if (selection_.size() == 1) {
    apply(circuit::RemoveNode{*selection_.begin()});
    return;
  }
  // Several nodes go in one undoable step.
  std::set<std::string> gone;
  for (auto& s : selection_)
    if (parent_of(s) == parent) gone.insert(leaf_of(s));
  if (auto cmd = circuit::delete_nodes(doc_.circuit(), parent, gone)) apply(std::move(*cmd));
}

void MainWindow::group_selection() {
  if (selection_.empty()) return;
  std::string parent = selection_parent();
  std::vector<std::string> nodes;
  for (auto& s : selection_)
    if (parent_of(s) == parent) nodes.push_back(leaf_of(s));
  const circuit::Graph* g = circuit::graph_at(doc_.circuit().graph, parent);
  apply(circuit::Group{parent, nodes, g ? g->unique_name("block") : "block"});
}

void MainWindow::toggle_block(const QString& path_q) {
  std::string path = path_q.toStdString();
  NodeView v = view_node(doc_, path);
  if (!v.node) return;
  if (v.node->body) {
    if (!collapsed_.erase(path)) collapsed_.insert(path);
  } else if (has_parts(*v.node)) {
    if (!opened_.erase(path)) opened_.insert(path);
  } else {
    return;
  }
  refresh();
}

void MainWindow::copy_selection() {
  if (selection_.empty()) return;
  std::string parent = selection_parent();
  std::set<std::string> names;
  for (auto& s : selection_)
    if (parent_of(s) == parent) names.insert(leaf_of(s));
  auto clip = circuit::copy_nodes(doc_.circuit(), parent, names);
  if (!clip) return;
  // The clipboard carries the wires from outside the copy beside the circuit (circuit::Clip);
  // plain text gets the circuit alone, which other programs and `circuit check` can read.
  auto* mime = new QMimeData;
  mime->setData(kNodesMime, QByteArray::fromStdString(circuit::clip_to_text(*clip)));
  mime->setText(QString::fromStdString(circuit::circuit_to_text(clip->circuit)));
  QApplication::clipboard()->setMimeData(mime);
  status_->setText(QString("Copied %1 node(s)").arg(clip->circuit.graph.nodes.size()));
}

void MainWindow::paste() {
  const QMimeData* mime = QApplication::clipboard()->mimeData();
  if (!mime) return;
  std::string text = mime->hasFormat(kNodesMime) ? mime->data(kNodesMime).toStdString() : mime->text().toStdString();
  auto clip = circuit::parse_clip(text);
  if (!clip || clip->circuit.graph.nodes.empty()) return void(status_->setText("The clipboard holds no circuit nodes."));
  std::vector<std::string> pasted;
  auto cmd = circuit::paste_nodes(doc_.circuit(), selection_parent(), *clip, &pasted);
  if (!cmd) return void(status_->setText(QString::fromStdString(cmd.error().message)));
  if (apply(std::move(*cmd))) select(std::set<std::string>(pasted.begin(), pasted.end()));
}

// --- run -----------------------------------------------------------------------------------

void MainWindow::run_dialog() {
  if (job_.running()) return problem("Training is running", "Cancel it first (Run ▸ Cancel, Ctrl+.).");
  // Only the data sets this circuit can train on (all of them when it fits none, so the run
  // still says why).
  QStringList fitting, all;
  for (const engine::DataSetInfo& d : engine::data_sets()) {
    all << d.name;
    if (engine::fits(d, doc_.analysis())) fitting << d.name;
  }
  RunSettings s;
  if (ask_run_settings(this, "Train " + QString::fromStdString(doc_.circuit().name), run_settings_, fitting.isEmpty() ? all : fitting, s))
    start_training(s);
}

bool MainWindow::start_training(const RunSettings& s) {
  if (job_.running()) return false;
  auto problems = doc_.analysis().diagnostics(doc_.circuit().graph);
  if (!problems.empty()) {
    problem("The circuit has problems", QString::fromStdString(problems.front().message) + "\nFix them before training.");
    return false;
  }
  run_settings_ = s;
  QSettings st;
  save_run_settings(st, s);
  TrainRequest r;
  r.circuit = doc_.circuit();
  r.data.name = s.data;
  r.data.seed = s.train.seed;
  r.data.train_limit = s.train_limit;
  r.train = s.train;
  r.device = s.device;
  run_plots_->clear();
  overlay_.clear();
  progress_->setRange(0, 0);  // busy until the first step says how many there are
  progress_->show();
  status_->setText("Training: loading " + QString::fromStdString(s.data) + "…");
  log("training " + QString::fromStdString(doc_.circuit().name) + " on " + QString::fromStdString(s.data));
  findChild<QDockWidget*>("dock_training")->raise();
  if (!job_.start(std::move(r))) return false;
  action("cancel")->setEnabled(true);
  action("train")->setEnabled(false);
  return true;
}

void MainWindow::on_training_events(const std::vector<events::Event>& batch) {
  const events::TrainStep* last = nullptr;
  for (auto& e : batch) {
    if (auto* s = std::get_if<events::TrainStep>(&e)) {
      run_plots_->add_step(*s);
      last = s;
    } else if (auto* ep = std::get_if<events::EpochEnd>(&e)) {
      run_plots_->add_epoch(*ep);
      log(QString("epoch %1/%2: train loss %3, val loss %4, val accuracy %5% (%6 s)")
              .arg(ep->epoch).arg(ep->epochs).arg(ep->train_loss, 0, 'f', 4).arg(ep->val_loss, 0, 'f', 4)
              .arg(100 * ep->val_accuracy, 0, 'f', 2).arg(ep->seconds, 0, 'f', 1));
    } else if (auto* l = std::get_if<events::ExpertLoad>(&e)) {
      run_plots_->add_expert_load(*l);
      // The MoE node itself shows its balance: MaxVio and drops as text, one heat square per
      // expert slot (its share of the step's kept assignments; balanced is mid-scale).
      circuit::diagram::Annotation a;
      a.text = QString("MaxVio %1 · dropped %2").arg(l->max_vio, 0, 'f', 2).arg(l->dropped).toStdString();
      a.heat = std::clamp(l->max_vio / 2.0, 0.0, 1.0);
      int64_t kept = 0;
      for (int64_t x : l->after) kept += x;
      for (int64_t x : l->after)
        a.cells.push_back(kept ? std::clamp(double(x) / double(kept) * double(l->after.size()) / 2.0, 0.0, 1.0) : 0.0);
      overlay_[l->layer] = std::move(a);
      overlay_dirty_ = true;
    } else if (auto* line = std::get_if<events::LogLine>(&e)) {
      log(QString::fromStdString(line->text));
    }
  }
  if (last) {
    progress_->setRange(0, int(last->total_steps));
    progress_->setValue(int(last->step));
    status_->setText(QString("Training: epoch %1/%2  step %3/%4  loss %5  acc %6%  %7 ex/s")
                         .arg(last->epoch).arg(last->epochs).arg(last->step).arg(last->total_steps)
                         .arg(last->loss, 0, 'f', 4).arg(100 * last->accuracy, 0, 'f', 1).arg(last->examples_per_second, 0, 'f', 0));
  }
}

void MainWindow::on_training_finished(const TrainOutcome& out) {
  progress_->hide();
  action("cancel")->setEnabled(false);
  action("train")->setEnabled(true);
  if (out.status == events::RunStatus::finished) {
    QString msg = QString("Trained: val accuracy %1%, test accuracy %2% (%3 steps, %4 s)")
                      .arg(100 * out.result.val.accuracy, 0, 'f', 2).arg(100 * out.test.accuracy, 0, 'f', 2)
                      .arg(out.result.steps).arg(out.result.seconds, 0, 'f', 1);
    status_->setText(msg);
    log(msg);
    if (!out.exit_histogram.empty()) {
      run_plots_->set_exit_histogram(out.exit_histogram);
      log(QString("early exit at confidence %1: accuracy %2%, mean cost %3 of the full forward")
              .arg(engine::kDefaultExitThreshold).arg(100 * out.exit_accuracy, 0, 'f', 2).arg(out.exit_cost, 0, 'f', 3));
    }
  } else if (out.status == events::RunStatus::cancelled) {
    status_->setText("Training cancelled");
    log("training cancelled");
  } else {
    problem("Training stopped", QString::fromStdString(out.message.empty() ? events::to_string(out.status) : out.message));
  }
  emit training_finished(QString(events::to_string(out.status)));
}

bool MainWindow::export_diagram(const QString& path) {
  circuit::diagram::DiagramOptions o;
  o.expand = expansion();
  o.overlay = overlay_;
  auto scene = circuit::diagram::build_scene(doc_.circuit(), doc_.analysis(), o);
  if (auto s = circuit::diagram::render_file(scene, path.toStdString()); !s) {
    problem("Export failed", QString::fromStdString(s.error));
    return false;
  }
  log("wrote " + path);
  return true;
}

bool MainWindow::export_model(const QString& path) {
  if (!job_.model()) {
    problem("Nothing to export yet", "Train the circuit first (Run ▸ Train, Ctrl+R); the trained weights are exported.");
    return false;
  }
  if (auto s = engine::export_model(*job_.model(), path.toStdString()); !s) {
    problem("Export failed", QString::fromStdString(s.error));
    return false;
  }
  log("wrote " + path);
  return true;
}

}  // namespace studio
