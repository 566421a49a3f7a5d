#include "main_window.h"

#include "engine_client.h"

#include <algorithm>
#include <QAction>
#include <QApplication>
#include <QScreen>
#include <QClipboard>
#include <QCloseEvent>
#include <QDateTime>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QInputDialog>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPainter>
#include <QProgressBar>
#include <QSettings>
#include <QStandardPaths>
#include <QStatusBar>
#include <QToolBar>

#include "base/file.h"
#include "base/paths.h"
#include "canvas/canvas_window.h"
#include "circuit/circuit_file.h"
#include "circuit/hf_import.h"
#include "circuit/selection.h"
#include "circuit/templates.h"
#include "diagram/render.h"
#include "inspector.h"
#include "lua_console.h"
#include "palette.h"
#include "plots/run_plots.h"
#include "recent_files.h"
#include "search_panel.h"
#include "theme.h"

namespace studio {

namespace {

const char* kNodesMime = "application/x-circuit-studio-nodes";

circuit::Circuit example_circuit() {
  if (auto c = circuit::load_circuit(base::data_path("examples/moe_mlp.circuit.json"))) return *c;
  return {};
}

}  // namespace

MainWindow::MainWindow(QVulkanInstance* vulkan, bool interactive) : vulkan_(vulkan), interactive_(interactive) {
  setObjectName("main_window");
  QSettings settings;
  dark_ = settings.value("theme/dark", false).toBool();

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
  connect(training_, &TrainingPanel::log, this, &MainWindow::log);
  connect(training_, &TrainingPanel::problem, this, &MainWindow::problem);
  connect(training_, &TrainingPanel::status, status_, &QLabel::setText);
  connect(training_, &TrainingPanel::progress, this, [this](int value, int maximum) {
    progress_->setVisible(maximum >= 0);
    progress_->setRange(0, std::max(maximum, 0));
    progress_->setValue(value);
  });
  connect(training_, &TrainingPanel::running_changed, this, [this](bool running) {
    action("cancel")->setEnabled(running);
    action("train")->setEnabled(!running);
  });
  connect(training_, &TrainingPanel::overlay_changed, this, &MainWindow::refresh);
  connect(training_, &TrainingPanel::finished, this, &MainWindow::training_finished);
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
    show_document(circuit::Document(std::move(*c)), QString());
    log("opened " + title + " (save it to keep it)");
  });

  autosave_timer_.setInterval(30'000);
  connect(&autosave_timer_, &QTimer::timeout, this, &MainWindow::autosave);
  autosave_timer_.start();

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
  training_->cancel();
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
  problems_ = new ProblemsList;
  dock("Problems", "dock_problems", problems_, Qt::RightDockWidgetArea);
  connect(problems_, &ProblemsList::node_activated, this, [this](const std::string& node) { select({node}); });

  // One engine process per window (Jupyter's kernel model), where the Run on… setting says.
  // A search runs in an engine of its own, so a long study and the console or a training do not
  // wait for each other, and a study's crash leaves the console's variables alone.
  engine_ = new EngineClient(this);
  search_engine_ = new EngineClient(this);
  for (EngineClient* e : {engine_, search_engine_}) {
    e->set_location({QSettings().value("engine/host").toString(), QSettings().value("engine/circuit", "circuit").toString()});
    connect(e, &EngineClient::died, this, [this, e](const QString& why, const QString& tail) {
      log(QString(e == engine_ ? "The engine" : "The search's engine") + " (" + e->where() + ") " + why + (tail.isEmpty() ? "" : ":\n" + tail) +
          "\nThe next job starts a fresh one.");
    });
  }
  training_ = new TrainingPanel(vulkan_, this, engine_);
  auto* run_dock = dock("Training", "dock_training", training_->widget(), Qt::BottomDockWidgetArea);
  search_ = new SearchPanel(vulkan_, search_engine_);
  auto* search_dock = dock("Search", "dock_search", search_, Qt::BottomDockWidgetArea);
  console_ = new LuaConsole(engine_);
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
  make(file, "&Import…", "import", QKeySequence("Ctrl+I"), [this] { import_dialog(); });
  recent_ = new RecentFiles(file->addMenu("Open &Recent"));
  connect(recent_, &RecentFiles::open_requested, this, [this](const QString& p) {
    if (maybe_save()) open_file(p);
  });
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
  make(view_menu_, "Open all blocks", "expand_all", QKeySequence(), [this] { folding_.closed.clear(), refresh(); });
  make(view_menu_, "Close all blocks", "collapse_all", QKeySequence(), [this] {
    folding_.close_all_blocks(doc_.circuit().graph), refresh();
  });
  make(view_menu_, "Open all mixers to their parts", "open_mixers", QKeySequence(), [this] {
    folding_.open_all_mixers(doc_.circuit().graph), refresh();
  });
  auto* theme = make(view_menu_, "&Dark theme", "dark", QKeySequence("Ctrl+Shift+D"), [this](bool on) { set_dark(on); });
  theme->setCheckable(true);
  theme->setChecked(dark_);
  view_menu_->addSeparator();
  for (auto* d : findChildren<QDockWidget*>()) view_menu_->addAction(d->toggleViewAction());

  QMenu* run = menuBar()->addMenu("&Run");
  make(run, "&Train…", "train", QKeySequence("Ctrl+R"), [this] { training_->ask_and_start(doc_); });
  make(run, "&Cancel training", "cancel", QKeySequence("Ctrl+."), [this] { training_->cancel(); });
  run->addSeparator();
  make(run, "Run &on…", "run_on", QKeySequence(), [this] {
    bool ok = false;
    QString host = QInputDialog::getText(this, "Run on", "Where the engine runs: empty for this machine, or an ssh destination\n"
                                         "([user@]host; `circuit` must be on its PATH, or name it after a space)",
                                         QLineEdit::Normal, engine_->location().host + (engine_->location().circuit == "circuit" ? "" : " " + engine_->location().circuit), &ok).trimmed();
    if (ok) set_engine_location(host.section(' ', 0, 0), host.section(' ', 1).trimmed());
  });
  make(run, "&Restart engine", "restart_engine", QKeySequence(), [this] {
    if (training_->job().running() || search_->running() || console_->busy()) training_->cancel(), search_->cancel(), console_->stop();
    engine_->restart();
    search_engine_->restart();
    log("The engines were restarted: the console's variables and the trained model are gone.");
  });
  QMenu* help = menuBar()->addMenu("&Help");
  make(help, "About Circuit Studio", "about", QKeySequence(), [this] {
    QMessageBox::about(this, "Circuit Studio",
                       "Circuit Studio " CIRCUIT_VERSION "\nDraw, train and search neural circuit diagrams.\n"
                       "Jobs run in a `circuit serve` engine, here or over ssh (Run ▸ Run on…); the `circuit` CLI does everything headless.");
  });

  QToolBar* tb = addToolBar("Main");
  tb->setObjectName("toolbar_main");
  for (const char* name : {"new", "open", "save", "undo", "redo", "frame", "train", "cancel"}) tb->addAction(action(name));
  action("cancel")->setEnabled(false);  // until a run starts
}

void MainWindow::set_dark(bool dark) {
  dark_ = dark;
  apply_theme(*qApp, Theme::of(dark));
  canvas_->set_dark(dark);
  training_->plots()->set_dark(dark);
  search_->set_dark(dark);
  if (auto* a = action("dark")) a->setChecked(dark);
  QSettings().setValue("theme/dark", dark);
}

void MainWindow::refresh() {
  circuit::diagram::DiagramOptions o;
  o.expand = folding_.expansion(doc_.circuit().graph);
  o.overlay = training_->overlay();
  o.hint = &scene_.memory;
  circuit::diagram::Scene next = circuit::diagram::build_scene(doc_.circuit(), doc_.analysis(), o);
  scene_ = std::move(next);
  canvas_->set_scene(scene_);
  // Selection of nodes that are gone (undo, delete) is dropped.
  std::set<std::string> kept;
  for (auto& s : selection_)
    if (circuit::view_node(doc_, s).node) kept.insert(s);
  selection_ = kept;
  canvas_->set_selection(selection_);
  inspector_->show_node(doc_, selection_.size() == 1 ? *selection_.begin() : std::string());

  problems_->show_problems(doc_);
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

void MainWindow::new_circuit() { show_document(circuit::Document(circuit::starter_circuit()), QString()); }

void MainWindow::show_document(circuit::Document doc, const QString& path) {
  doc_ = std::move(doc);
  path_ = path;
  folding_ = {};
  selection_.clear();
  scene_ = {};
  training_->clear();
  refresh();
  canvas_->frame_all();
}

bool MainWindow::open_file(const QString& path) {
  auto c = circuit::load_circuit(path.toStdString());
  // By content: a Hugging Face config.json opens as its imported circuit, untitled (Save asks where).
  if (!c) {
    bool not_config = false;
    auto imported = circuit::import_hf_file(path.toStdString(), {}, &not_config);
    if (!not_config) return show_import(path, std::move(imported));
  }
  if (!c) {
    // The open document stays as it was: a bad file never costs work.
    problem("Cannot open " + QFileInfo(path).fileName(), QString::fromStdString(c.error().message));
    return false;
  }
  show_document(circuit::Document(std::move(*c)), QFileInfo(path).absoluteFilePath());
  recent_->add(path_);
  log("opened " + path_);
  return true;
}

bool MainWindow::show_import(const QString& path, base::Result<circuit::HfImport> imp) {
  if (!imp) {
    problem("Cannot import " + QFileInfo(path).fileName(), QString::fromStdString(imp.error().message));
    return false;
  }
  show_document(circuit::Document(std::move(imp->circuit)), QString());
  QStringList ignored;
  for (auto& k : imp->ignored) ignored << QString::fromStdString(k);
  log("imported " + path + " (model_type " + QString::fromStdString(imp->model_type) + ")" +
      (ignored.isEmpty() ? QString() : "; ignored: " + ignored.join(", ")));
  return true;
}

void MainWindow::import_dialog() {
  if (!maybe_save()) return;
  QString p = QFileDialog::getOpenFileName(this, "Import a Hugging Face config", QString(), "Hugging Face config (config.json *.json)");
  if (!p.isEmpty()) show_import(p, circuit::import_hf_file(p.toStdString()));
}

bool MainWindow::save_to(const QString& path) {
  if (auto s = circuit::save_circuit(doc_.circuit(), path.toStdString()); !s) {
    problem("Cannot save", QString::fromStdString(s.error));
    return false;
  }
  path_ = QFileInfo(path).absoluteFilePath();
  doc_.mark_saved();
  QFile::remove(autosave_path());
  recent_->add(path_);
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
  show_document(circuit::Document(std::move(*c)), QString::fromStdString(origin));
  setWindowModified(true);
  log("recovered unsaved work from " + when + (origin.empty() ? "" : " (of " + QString::fromStdString(origin) + ")"));
}

void MainWindow::closeEvent(QCloseEvent* e) {
  if (!maybe_save()) return e->ignore();
  training_->cancel();
  search_->cancel();
  QSettings s;
  s.setValue("window/geometry", saveGeometry());
  s.setValue("window/state", saveState());
  if (interactive_ || !doc_.modified()) QFile::remove(autosave_path());
  e->accept();
}

// --- editing -------------------------------------------------------------------------------

void MainWindow::select(const std::set<std::string>& nodes) {
  selection_ = nodes;
  canvas_->set_selection(nodes);
  inspector_->show_node(doc_, nodes.size() == 1 ? *nodes.begin() : std::string());
}

std::string MainWindow::add_node(const QString& op_name) {
  std::string op = op_name.toStdString(), path;
  // After the one selected node (wired to it, taking its place as a graph output); alone otherwise.
  std::string after = selection_.size() == 1 ? *selection_.begin() : "";
  auto cmd = circuit::add_from_palette(doc_, op, after, &path);
  if (!cmd) {
    bool needs_selection = op.rfind("template:", 0) == 0 && after.empty();
    return problem(needs_selection ? "Select a node first" : "Cannot add", QString::fromStdString(cmd.error().message)), std::string();
  }
  if (!apply(std::move(*cmd))) return {};
  select({path});
  return path;
}

void MainWindow::connect_nodes(const QString& from_q, const QString& to_q) {
  std::string from = from_q.toStdString(), to = to_q.toStdString();
  auto [from_parent, from_name] = circuit::split_path(from);
  if (from_parent != circuit::split_path(to).parent)
    return status_->setText("Wires connect nodes of the same graph level; open the block to wire inside it.");
  circuit::NodeView v = circuit::view_node(doc_, to);
  if (!v.node || from == to) return;
  if (auto in = circuit::wire_into(*v.node, circuit::PortRef{from_name, 0})) apply(circuit::SetInputs{to, *in});
}

void MainWindow::delete_selection() {
  if (selection_.size() == 1) return void(apply(circuit::RemoveNode{*selection_.begin()}));
  // Several nodes go in one undoable step.
  auto [parent, names] = circuit::at_one_level(selection_);
  if (names.empty()) return;
  if (auto cmd = circuit::delete_nodes(doc_.circuit(), parent, names)) apply(std::move(*cmd));
}

void MainWindow::group_selection() {
  auto [parent, names] = circuit::at_one_level(selection_);
  const circuit::Graph* g = circuit::graph_at(doc_.circuit().graph, parent);
  if (!names.empty()) apply(circuit::Group{parent, {names.begin(), names.end()}, g ? g->unique_name("block") : "block"});
}

void MainWindow::toggle_block(const QString& path) {
  if (folding_.toggle(doc_.circuit().graph, path.toStdString())) refresh();
}

void MainWindow::copy_selection() {
  auto [parent, names] = circuit::at_one_level(selection_);
  if (names.empty()) return;
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
  auto cmd = circuit::paste_nodes(doc_.circuit(), circuit::at_one_level(selection_).parent, *clip, &pasted);
  if (!cmd) return void(status_->setText(QString::fromStdString(cmd.error().message)));
  if (apply(std::move(*cmd))) select(std::set<std::string>(pasted.begin(), pasted.end()));
}

// --- export --------------------------------------------------------------------------------

bool MainWindow::start_training(const RunSettings& s) { return training_->start(doc_, s); }
TrainingJob& MainWindow::training() { return training_->job(); }

void MainWindow::set_engine_location(const QString& host, const QString& circuit) {
  EngineLocation l{host, circuit.isEmpty() ? "circuit" : circuit};
  QSettings().setValue("engine/host", l.host);
  QSettings().setValue("engine/circuit", l.circuit);
  if (l == engine_->location()) return;
  for (EngineClient* e : {engine_, search_engine_}) {
    e->restart();
    e->set_location(l);
  }
  log("Jobs now run on " + engine_->where() + (l.host.isEmpty() ? "" : " (ssh " + l.host + " " + l.circuit + " serve --stdio)"));
}
RunPlotsWindow* MainWindow::run_plots() const { return training_->plots(); }

bool MainWindow::export_diagram(const QString& path) {
  circuit::diagram::DiagramOptions o;
  o.expand = folding_.expansion(doc_.circuit().graph);
  o.overlay = training_->overlay();
  auto scene = circuit::diagram::build_scene(doc_.circuit(), doc_.analysis(), o);
  if (auto s = circuit::diagram::render_file(scene, path.toStdString()); !s) {
    problem("Export failed", QString::fromStdString(s.error));
    return false;
  }
  log("wrote " + path);
  return true;
}

bool MainWindow::export_model(const QString& path) {
  if (auto s = training_->export_model(path.toStdString()); !s) {
    problem(training().has_model() ? "Export failed" : "Nothing to export yet", QString::fromStdString(s.error));
    return false;
  }
  log("wrote " + path);
  return true;
}

}  // namespace studio
