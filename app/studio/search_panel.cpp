#include "search_panel.h"

#include "device_choice.h"

#include <algorithm>

#include <QCheckBox>
#include <QCompleter>
#include <QSettings>
#include <QStringListModel>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QTableView>
#include <QVBoxLayout>
#include <set>

#include "base/file.h"
#include "base/paths.h"
#include "base/ram.h"
#include "circuit/circuit_file.h"
#include "plots/search_plots.h"
#include "engine_client.h"
#include "search/pareto.h"
#include "search/study.h"
#include "search/report.h"

namespace studio {

namespace {

// Baseline trials share the plot with the study's: their ids are offset so a click says which.
constexpr int64_t kBaselineId = 1'000'000;

// The finished trials that recorded every objective, as plotted: values by objective, choices
// from the point, feasibility from the constraints. Ids are trial numbers plus `offset`.
std::vector<TrialPoint> plot_points(const std::vector<store::TrialRecord>& list, const search::Space& space, int64_t offset) {
  std::vector<TrialPoint> out;
  for (auto& t : list) {
    if (t.status != store::TrialStatus::finished) continue;
    TrialPoint p;
    p.id = offset + t.number;
    if (auto point = search::parse_point(t.point)) p.choice = point->choice;
    bool complete = true;
    for (auto& o : space.objectives) {
      auto m = t.metrics.find(o.metric);
      if (m == t.metrics.end()) complete = false;
      else p.values[o.metric] = m->second;
    }
    for (auto& c : space.constraints)
      if (auto m = t.metrics.find(c.metric); m != t.metrics.end() && c.violation(m->second) > 0) p.feasible = false;
    if (complete) out.push_back(p);
  }
  return out;
}

}  // namespace

SearchPanel::SearchPanel(QVulkanInstance* vulkan, EngineClient* engine, QWidget* parent) : QWidget(parent), engine_(engine) {
  connect(engine_, &EngineClient::replies, this, &SearchPanel::on_replies);
  connect(engine_, &EngineClient::started, this, [this] { offer_devices(device_, engine_->hello() ? &*engine_->hello() : nullptr); });
  connect(engine_, &EngineClient::died, this, [this](const QString& why, const QString& tail) {
    if (running_) end("study stopped: the engine " + why + (tail.isEmpty() ? "" : " (" + tail.section('\n', -1) + ")") + "; its finished trials are in the store");
  });
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  auto* controls = new QWidget;
  auto* form = new QFormLayout(controls);
  auto* space_row = new QHBoxLayout;
  space_ = new QLineEdit(QString::fromStdString(base::data_path("search/moe_mlp.search.json")));
  space_->setObjectName("search_space");
  auto* browse = new QPushButton("…");
  browse->setMaximumWidth(30);
  space_row->addWidget(space_, 1);
  space_row->addWidget(browse);
  form->addRow("Space", space_row);
  study_ = new QLineEdit("moe_mlp");
  study_->setObjectName("search_study");
  form->addRow("Study", study_);
  db_ = new QLineEdit;
  db_->setObjectName("search_db");
  db_->setPlaceholderText("studies.sqlite in the app's data folder");
  db_->setToolTip("Where studies are stored: a .sqlite file, or postgresql://user@host[:port]/db to share a study\n"
                  "with `circuit worker` processes on other machines");
  form->addRow("Store", db_);
  strategy_ = new QComboBox;
  strategy_->addItems({"nsga2", "evolution", "random"});
  form->addRow("Strategy", strategy_);
  trials_ = new QSpinBox;
  trials_->setRange(1, 10000);
  trials_->setValue(search::kDefaultTrials);
  form->addRow("Trials", trials_);
  limit_ = new QSpinBox;
  limit_->setRange(100, 60000);
  limit_->setValue(2000);
  limit_->setSingleStep(500);
  form->addRow("Train examples", limit_);
  device_ = make_device_choice("auto", engine_->hello() ? &*engine_->hello() : nullptr);
  form->addRow("Device", device_);
  baseline_ = new QCheckBox("random-search baseline");
  baseline_->setChecked(true);
  form->addRow(baseline_);
  auto* buttons = new QHBoxLayout;
  auto* open = new QPushButton("Open…");
  open->setToolTip("Show a study from a store written by the studio or `circuit search`: a .sqlite file,\n"
                   "or the server in the Store field when it holds a postgresql:// URL (watched live)");
  start_ = new QPushButton("Start study");
  start_->setObjectName("search_start");
  cancel_ = new QPushButton("Cancel");
  cancel_->setEnabled(false);
  compare_study_ = new QPushButton("Compare with…");
  compare_study_->setObjectName("search_compare_study");
  compare_study_->setToolTip("Add another study on the same objectives, from any store (a .sqlite file, or the server in the Store\n"
                             "field): the Compare studies view overlays the fronts and compares the strategies over seeds");
  buttons->addWidget(open);
  buttons->addWidget(compare_study_);
  buttons->addWidget(start_);
  buttons->addWidget(cancel_);
  form->addRow(buttons);
  progress_ = new QProgressBar;
  form->addRow(progress_);
  status_ = new QLabel("No study yet.");
  status_->setWordWrap(true);
  form->addRow(status_);
  controls->setMaximumWidth(340);

  plots_ = new SearchPlotsWindow();
  plots_->setVulkanInstance(vulkan);
  QWidget* plot_box = QWidget::createWindowContainer(plots_);
  plot_box->setProperty("embedded", QVariant::fromValue<QObject*>(plots_));  // MainWindow::screenshot
  plot_box->setMinimumSize(320, 220);

  auto* table_box = new QWidget;
  auto* tl = new QVBoxLayout(table_box);
  tl->setContentsMargins(0, 0, 0, 0);
  filter_ = new QLineEdit;
  filter_->setPlaceholderText("Filter trials: text (aux_free, failed), accuracy:0.8..0.9, params<=150000, trial:3,7");
  filter_->setToolTip("Every space-separated term must match: text some column contains, column:lo..hi (either bound\n"
                      "may be left out), column>=v, column<=v, trial:3,7,9. \"save as filter\" in the plots writes the\n"
                      "selection as such a filter and keeps it: type or press Down to pick a saved one.");
  filter_->setClearButtonEnabled(true);
  auto* saved = new QCompleter(new QStringListModel(QSettings().value("search/filters").toStringList(), this), this);
  saved->setCaseSensitivity(Qt::CaseInsensitive);
  saved->setFilterMode(Qt::MatchContains);
  filter_->setCompleter(saved);
  table_ = new QTableView;
  table_->setObjectName("search_trials");
  model_ = new TrialTableModel(table_);
  table_->setModel(model_);
  table_->setSortingEnabled(true);
  table_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);  // finishing order until a header is clicked
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 6);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->hide();
  compare_ = new QPushButton("Compare the two selected trials");
  compare_->setObjectName("search_compare");
  compare_->setToolTip("Select two trials (Ctrl+click) to see their metrics side by side and how their circuits differ");
  compare_->setEnabled(false);
  tl->addWidget(filter_);
  tl->addWidget(table_);
  tl->addWidget(compare_);

  auto* split = new QSplitter;
  split->addWidget(plot_box);
  split->addWidget(table_box);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  layout->addWidget(controls);
  layout->addWidget(split, 1);

  connect(browse, &QPushButton::clicked, this, [this] {
    QString p = QFileDialog::getOpenFileName(this, "Search space", space_->text(), "Search spaces (*.search.json *.json)");
    if (!p.isEmpty()) space_->setText(p);
  });
  connect(start_, &QPushButton::clicked, this, [this] {
    SearchRequest r;
    r.space_path = space_->text();
    r.study = study_->text();
    r.db = db_->text().trimmed();
    r.strategy = strategy_->currentText();
    r.trials = trials_->value();
    r.train_limit = limit_->value();
    r.device = device_of(device_);
    r.baseline = baseline_->isChecked();
    start(r);
  });
  connect(cancel_, &QPushButton::clicked, this, &SearchPanel::cancel);
  connect(open, &QPushButton::clicked, this, [this] {
    auto [db, name] = pick_study("Open a study");
    if (name.isEmpty()) return;
    study_->setText(name);
    QString err = show_study(db, name);
    if (!err.isEmpty()) status_->setText(err);
  });
  connect(compare_study_, &QPushButton::clicked, this, [this] {
    if (!space_def_) return status_->setText("Open or start a study first: the others are compared with it.");
    auto [db, name] = pick_study("Compare with a study");
    if (name.isEmpty()) return;
    QString err = add_comparison(db, name);
    status_->setText(err.isEmpty() ? QString("Comparing %1 with %2 other studies: see Compare studies.").arg(study_name_).arg(compared_.size()) : err);
    if (err.isEmpty()) plots_->show_view(SearchPlotsWindow::View::compare);
  });
  connect(filter_, &QLineEdit::textChanged, this, &SearchPanel::filter);
  connect(plots_, &SearchPlotsWindow::trial_clicked, this, [this](qint64 id) {
    if (id >= 0) open_number(int(id % kBaselineId), id >= kBaselineId);
  });
  connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
    // Rows picked in the table are the plots' selection too (study trials; baseline rows have no line).
    std::set<int64_t> ids;
    for (auto [number, baseline] : table_selection())
      if (!baseline) ids.insert(number);
    plots_->set_selection(ids);
    model_->set_linked(ids);
    update_compare_button();
  });
  connect(plots_, &SearchPlotsWindow::comparison_closed, this, &SearchPanel::clear_comparison);
  connect(plots_, &SearchPlotsWindow::save_selection, this, [this] { save_selection_as_filter(); });
  connect(plots_, &SearchPlotsWindow::selection_changed, this, [this](QList<qint64> ids) { select_rows(ids); });
  connect(compare_, &QPushButton::clicked, this, [this] {
    if (QString err = compare_selected(); !err.isEmpty()) status_->setText(err);
  });
  connect(table_, &QTableView::doubleClicked, this, [this](const QModelIndex& index) {
    if (index.isValid()) open_number(int(model_->row(index.row()).number), model_->row(index.row()).baseline);
  });
}

SearchPanel::~SearchPanel() {
  cancel();
  stop_watching();
}

void SearchPanel::cancel() {
  if (!running_) return;
  engine_->cancel(search_id_);
  status_->setText("Cancelling after the current trial…");
}

void SearchPanel::set_dark(bool dark) { plots_->set_dark(dark); }

bool SearchPanel::start(const SearchRequest& r) {
  if (running_) return false;
  auto space = search::load_space(r.space_path.toStdString());
  if (!space) {
    status_->setText(QString::fromStdString(space.error().message));
    return false;
  }
  auto text = base::read_file(r.space_path.toStdString());
  if (!text) {
    status_->setText(QString::fromStdString(text.error().message));
    return false;
  }
  QString db = r.db.isEmpty() ? QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + "/studies.sqlite" : r.db;
  if (!store::is_url(db.toStdString())) QDir().mkpath(QFileInfo(db).absolutePath());
  stop_watching();
  compared_.clear();
  db_path_ = db, study_name_ = r.study;
  reader_.reset();
  space_def_ = *space;
  protocol::Search q;
  q.space = *text;
  q.space_name = QFileInfo(r.space_path).absoluteFilePath().toStdString();
  q.study = r.study.toStdString();
  q.db = QFileInfo(db).isRelative() && !store::is_url(db.toStdString()) ? QFileInfo(db).absoluteFilePath().toStdString() : db.toStdString();
  q.strategy = r.strategy.toStdString();
  q.device = r.device;
  q.trials = r.trials;
  q.train = r.train;
  q.train_limit = r.train_limit;
  q.seed = r.seed;
  q.baseline = r.baseline;
  QString error;
  search_id_ = engine_->send(std::move(q), &error);
  if (!search_id_) {
    status_->setText("The engine cannot start: " + error);
    return false;
  }
  running_ = true;
  trials_done_ = 0;
  start_->setEnabled(false);
  cancel_->setEnabled(true);
  progress_->setRange(0, r.trials);
  progress_->setValue(0);
  status_->setText("Loading data…");
  return true;
}

void SearchPanel::on_replies(const std::vector<protocol::Reply>& batch) {
  for (const protocol::Reply& r : batch) {
    if (!running_ || r.id != search_id_) continue;
    if (auto* e = std::get_if<events::Event>(&r.body)) {
      auto* line = std::get_if<events::LogLine>(e);
      if (!line) continue;
      // The engine says "trial N: ..." as each of the study's trials is committed (the bar counts
      // the study's trials, not the baseline's): the store has it, so the views read it now.
      if (line->text.rfind("trial ", 0) == 0) {
        progress_->setValue(++trials_done_);
        status_->setText(QString::fromStdString(line->text));
        reload();
      }
    } else if (auto* d = std::get_if<protocol::Done>(&r.body)) {
      end(QString::fromStdString(d->error.empty() ? d->summary : d->error));
    } else if (auto* p = std::get_if<protocol::Problem>(&r.body)) {
      end(QString::fromStdString(p->message));
    }
  }
}

void SearchPanel::end(const QString& summary) {
  running_ = false;
  search_id_ = 0;
  start_->setEnabled(true);
  cancel_->setEnabled(false);
  status_->setText(summary);
  reload();
  emit finished(summary);
}

namespace {

StudySnapshot read_snapshot(store::Store& db, const std::string& study) {
  StudySnapshot s;
  auto load = [&](const std::string& name, std::optional<store::StudyInfo>* info) -> std::vector<store::TrialRecord> {
    auto found = db.find_study(name);
    if (!found || !*found) return {};
    if (info) *info = **found;
    auto t = db.trials((*found)->id);
    return t ? *t : std::vector<store::TrialRecord>{};
  };
  s.trials = load(study, &s.info);
  s.baseline = load(study + "-random", nullptr);
  return s;
}

// What the dock shows of a snapshot: points with their Pareto ranks, hypervolume curves and the
// table's rows. For 100,000 trials in 6 objectives the ranks alone take 4.5 s, so a watched
// study is prepared on the watcher's thread and the GUI thread only swaps the result in.
PreparedStudy prepare(StudySnapshot snap, const search::Space& space) {
  PreparedStudy out;
  const std::vector<store::TrialRecord>& trials = snap.trials;
  const std::vector<store::TrialRecord>& baseline = snap.baseline;
  const std::optional<store::StudyInfo>& info = snap.info;
  const auto& objectives = space.objectives;
  const auto& constraints = space.constraints;
  for (auto& t : trials) {
    out.seq = std::max(out.seq, t.seq);
    out.running += t.status == store::TrialStatus::running;
    out.queued += t.status == store::TrialStatus::queued;
  }

  // Points: objectives by name, feasibility from the constraints, the study's own front.
  ParetoPoints pts;
  std::vector<search::Direction> dirs;
  for (auto& o : objectives) {
    pts.objectives.push_back({o.metric, o.direction == search::Direction::minimize});
    dirs.push_back(o.direction);
  }
  for (auto& d : space.dims) {
    ChoiceAxis axis{d.name, {}};
    for (int i = 0; i < d.size(); ++i) axis.labels.push_back(d.label(i));
    pts.choices.push_back(std::move(axis));
  }
  pts.trials = plot_points(trials, space, 0);
  pts.baseline = plot_points(baseline, space, kBaselineId);
  std::vector<search::Vec> feasible;
  std::vector<size_t> index;
  for (size_t i = 0; i < pts.trials.size(); ++i)
    if (pts.trials[i].feasible) {
      search::Vec v;
      for (auto& o : objectives) v.push_back(pts.trials[i].values[o.metric]);
      feasible.push_back(v);
      index.push_back(i);
    }
  // Pareto ranks over every objective: the front is rank 0 (parallel coordinates colour by rank).
  auto fronts = search::nondominated_fronts(search::to_minimization(feasible, dirs));
  for (size_t r = 0; r < fronts.size(); ++r)
    for (int f : fronts[r]) pts.trials[index[size_t(f)]].rank = int(r), pts.trials[index[size_t(f)]].on_front = r == 0;
  pts.index();
  out.points = std::move(pts);

  HypervolumeHistory hv;
  if (auto ref = search::reference_point(objectives, constraints, "")) {
    auto series = search::hypervolume_series(trials, objectives, constraints, *ref, "study");
    for (size_t i = 0; i < series.values.size(); ++i) hv.study.push(double(i + 1), series.values[i]);
    hv.samples = series.samples;
    auto base = search::hypervolume_series(baseline, objectives, constraints, *ref, "random search");
    for (size_t i = 0; i < base.values.size(); ++i) hv.baseline.push(double(i + 1), base.values[i]);
  }
  out.hypervolume = std::move(hv);

  // The table: every trial of both studies; metric columns from what the trials recorded.
  std::set<std::string> metric_names;
  for (auto* list : {&trials, &baseline})
    for (auto& t : *list)
      for (auto& [k, v] : t.metrics) metric_names.insert(k);
  QStringList metrics;
  for (auto& m : metric_names) metrics << QString::fromStdString(m);
  std::vector<TrialRow> rows;
  rows.reserve(trials.size() + baseline.size());
  const QString strategy = QString::fromStdString(info ? info->strategy : "");
  for (auto* list : {&trials, &baseline})
    for (auto& t : *list) {
      TrialRow r;
      r.number = t.number;
      r.baseline = list == &baseline;
      r.study = r.baseline ? "random" : strategy;
      r.status = QString::fromStdString(store::to_string(t.status));
      // Who ran it: host:pid, with the worker's device and versions on hover.
      r.worker = t.host.empty() ? QString() : QString("%1:%2").arg(QString::fromStdString(t.host)).arg(t.pid);
      r.worker_detail = QString::fromStdString(t.worker + (t.history.empty() ? "" : "\n" + t.history));
      std::string what = t.point;
      if (auto p = search::parse_point(t.point)) what = search::describe(space, *p);
      r.point = QString::fromStdString(what);
      r.metrics.reserve(metric_names.size());
      for (auto& m : metric_names) {
        auto it = t.metrics.find(m);
        r.metrics.push_back(it == t.metrics.end() ? NAN : it->second);
      }
      r.error = QString::fromStdString(t.error);
      rows.push_back(std::move(r));
    }
  out.rows = std::move(rows);
  out.metrics = metrics;
  out.snapshot = std::move(snap);
  return out;
}

}  // namespace

QString SearchPanel::show_study(const QString& db, const QString& study) {
  stop_watching();
  compared_.clear();  // compared with the study shown before, perhaps on other objectives
  db_path_ = db, study_name_ = study;
  shown_seq_ = 0, shown_running_ = -1, shown_queued_ = -1;
  reader_.reset();
  space_def_.reset();
  reload();
  if (!space_def_) return status_->text();
  watch(db.toStdString(), study.toStdString());
  QString where = store::is_url(db.toStdString()) ? QString::fromStdString(store::display_name(db.toStdString())) : QFileInfo(db).fileName();
  status_->setText("Watching " + study + " in " + where + ": trials appear as workers commit them.");
  return {};
}

std::pair<QString, QString> SearchPanel::pick_study(const QString& title) {
  QString db = db_->text().trimmed();
  if (!store::is_url(db.toStdString())) {
    QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    db = QFileDialog::getOpenFileName(this, title + ": its store", dir, "Study stores (*.sqlite *.db);;All files (*)");
    if (db.isEmpty()) return {};
  }
  status_->setText("Connecting to " + QString::fromStdString(store::display_name(db.toStdString())) + "…");
  auto store = store::Store::open(db.toStdString());
  if (!store) return status_->setText(QString::fromStdString(store.error().message)), std::pair<QString, QString>{};
  auto studies = (*store)->studies();
  QStringList names;
  if (studies)
    for (auto& st : *studies)
      if (!QString::fromStdString(st.name).endsWith("-random")) names << QString::fromStdString(st.name);
  if (names.isEmpty()) return status_->setText(QString::fromStdString(store::display_name(db.toStdString())) + " holds no study."), std::pair<QString, QString>{};
  bool ok = false;
  QString name = names.size() == 1 ? names[0] : QInputDialog::getItem(this, title, "Study", names, 0, false, &ok);
  if (names.size() > 1 && !ok) return {};
  return {db, name};
}

QString SearchPanel::add_comparison(const QString& db, const QString& study) {
  if (!space_def_) return "no study is shown to compare with: open or start one first";
  auto store = store::Store::open(db.toStdString());
  if (!store) return QString::fromStdString(store.error().message);
  // Short, for legends: a file's name, a server's database name.
  QString where = store::is_url(db.toStdString()) ? QString::fromStdString(store::display_name(db.toStdString())).section('/', -1) : QFileInfo(db).fileName();
  auto main = search::read_comparable(**store, study.toStdString(), *space_def_);
  if (!main) return study + " in " + where + ": " + QString::fromStdString(main.error().message);
  compared_.push_back({study + "@" + where, std::move(*main)});
  // Its random-search baseline is a study of the random strategy: one more seed for that band.
  if (auto base = search::read_comparable(**store, (study + "-random").toStdString(), *space_def_)) compared_.push_back({study + "-random@" + where, std::move(*base)});
  reload();
  return {};
}

void SearchPanel::clear_comparison() {
  compared_.clear();
  reload();
}

void SearchPanel::update_comparison(const StudySnapshot& snap) {
  StudyComparisonView v;
  if (compared_.empty() || !space_def_) return plots_->set_comparison(v);
  const auto& objectives = space_def_->objectives;
  const auto& constraints = space_def_->constraints;
  auto ref = search::reference_point(objectives, constraints, "");
  if (!ref) return status_->setText(QString::fromStdString(ref.error().message)), plots_->set_comparison(v);
  for (auto& o : objectives) v.objectives.push_back({o.metric, o.direction == search::Direction::minimize});
  std::vector<search::StudyResult> results;
  auto add = [&](const std::string& label, const std::string& strategy, const std::vector<store::TrialRecord>& trials) {
    v.studies.push_back({label, strategy, plot_points(trials, *space_def_, 0)});
    results.push_back({label, strategy, search::hypervolume_series(trials, objectives, constraints, *ref, label).values});
  };
  add(study_name_.toStdString(), snap.info ? snap.info->strategy : "", snap.trials);
  if (!snap.baseline.empty()) add(study_name_.toStdString() + "-random", "random", snap.baseline);
  for (auto& c : compared_) add(c.label.toStdString(), c.study.info.strategy, c.study.trials);
  search::StrategyComparison cmp = search::compare_strategies(results);
  for (auto& r : cmp.rows) v.rows.push_back({r.strategy, r.studies, r.mean, r.std});
  for (auto& p : cmp.pairs) v.verdicts.push_back(p.verdict);
  for (auto& b : search::seed_bands(results)) {
    Curve c{b.strategy + (b.studies > 1 ? " (mean of " + std::to_string(b.studies) + ")" : "")};
    for (size_t i = 0; i < b.mean.size(); ++i) c.push(double(i + 1), b.mean[i]);
    if (b.studies > 1) c.lo = b.lo, c.hi = b.hi;
    v.hypervolume.push_back(std::move(c));
  }
  plots_->set_comparison(std::move(v));
}

void SearchPanel::watch(const std::string& db, const std::string& study) {
  watch_stop_ = false;
  watcher_ = std::thread([this, db, study, space = *space_def_, seq = shown_seq_, running = shown_running_, queued = shown_queued_]() mutable {
    std::unique_ptr<store::Store> conn;
    int64_t id = 0;
    std::unique_lock<std::mutex> lock(watch_m_);
    while (!watch_stop_) {
      lock.unlock();
      bool changed = false;
      if (!conn) {
        if (auto o = store::Store::open(db)) {
          conn = std::move(*o);
          conn->set_reconnect_seconds(0);  // report, and try again at the next poll
          conn->on_notice([](const std::string&) {});
        }
      }
      if (conn && id == 0)
        if (auto f = conn->find_study(study); f && *f) id = (**f).id;
      if (conn && id) {
        // Three small queries per poll; the whole study is read only when one of them moved.
        auto done = conn->completed_since(id, seq);
        auto r = conn->count(id, store::TrialStatus::running), q = conn->count(id, store::TrialStatus::queued);
        if (done && r && q) {
          if (!done->empty()) seq = done->back().seq, changed = true;
          if (*r != running || *q != queued) running = *r, queued = *q, changed = true;
        } else {
          conn.reset();  // lost: reconnect at the next poll
        }
      }
      if (changed) {
        auto ready = std::make_shared<PreparedStudy>(prepare(read_snapshot(*conn, study), space));
        QMetaObject::invokeMethod(this, [this, ready] { show_prepared(std::move(*ready)); }, Qt::QueuedConnection);
      }
      lock.lock();
      watch_cv_.wait_for(lock, std::chrono::milliseconds(watch_ms_), [&] { return watch_stop_; });
    }
  });
}

void SearchPanel::stop_watching() {
  {
    std::lock_guard<std::mutex> l(watch_m_);
    watch_stop_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

void SearchPanel::reload() {
  if (!reader_) {
    auto s = store::Store::open(db_path_.toStdString());
    if (!s) return status_->setText(QString::fromStdString(s.error().message));
    reader_ = std::move(*s);
  }
  show_snapshot(read_snapshot(*reader_, study_name_.toStdString()));
}

void SearchPanel::show_snapshot(const StudySnapshot& snap) {
  if (!space_def_ && snap.info) {
    auto sp = search::parse_space(snap.info->spec, study_name_.toStdString());
    if (sp) space_def_ = *sp;
    else status_->setText(QString::fromStdString(sp.error().message));
  }
  if (space_def_) show_prepared(prepare(snap, *space_def_));
}

void SearchPanel::show_prepared(PreparedStudy p) {
  shown_seq_ = p.seq, shown_running_ = p.running, shown_queued_ = p.queued;
  plots_->set_points(std::move(p.points));
  plots_->set_hypervolume(std::move(p.hypervolume));
  update_comparison(p.snapshot);
  const bool first = model_->total_rows() == 0;
  model_->set_rows(std::move(p.rows), p.metrics);
  if (first) table_->resizeColumnsToContents();
  QList<qint64> keep;  // the rows were rebuilt: highlight again what the plots select
  for (int64_t id : plots_->selection()) keep << qint64(id);
  select_rows(keep);
}

void SearchPanel::filter(const QString& text) { model_->set_filter(text); }

QString SearchPanel::save_selection_as_filter() {
  const std::set<int64_t>& ids = plots_->selection();
  if (ids.empty()) return {};
  QStringList terms;
  bool by_number = true;
  for (const auto& a : plots_->parallel_axes().axes) {
    if (!a.brushed) continue;
    if (a.choice) {
      by_number = true;
      break;
    }
    terms << QString("%1:%2..%3").arg(QString::fromStdString(a.name)).arg(std::min(a.lo, a.hi), 0, 'g', 8).arg(std::max(a.lo, a.hi), 0, 'g', 8);
    by_number = false;
  }
  QString text = terms.join(' ');
  if (!by_number) {
    // The ranges describe the selection only if it came from the brushes alone (not narrowed by
    // a rectangle, nor replaced by rows picked in the table).
    filter_->setText(text);
    int study_rows = 0;
    for (int r = 0; r < model_->rowCount(); ++r) study_rows += !model_->row(r).baseline;
    by_number = size_t(study_rows) != ids.size();
  }
  if (by_number) {  // a rectangle in the matrix, rows picked in the table, or a choice axis: the trials themselves
    QStringList numbers;
    for (int64_t id : ids) numbers << QString::number(id);
    text = "trial:" + numbers.join(',');
  }
  filter_->setText(text);
  QSettings settings;
  QStringList all = settings.value("search/filters").toStringList();
  all.removeAll(text);
  all.prepend(text);
  while (all.size() > 20) all.removeLast();
  settings.setValue("search/filters", all);
  if (auto* m = qobject_cast<QStringListModel*>(filter_->completer()->model())) m->setStringList(all);
  status_->setText(QString("Filter saved: %1 trials of %2 match it.").arg(model_->rowCount()).arg(model_->total_rows()));
  return text;
}

std::optional<std::pair<store::TrialRecord, QString>> SearchPanel::fetch(int number, bool baseline) {
  if (!reader_) return std::nullopt;
  auto found = reader_->find_study((study_name_ + (baseline ? "-random" : "")).toStdString());
  if (!found || !*found) return std::nullopt;
  auto t = reader_->trial((*found)->id, number);
  if (!t || !*t || (*t)->circuit.empty()) return std::nullopt;
  return std::pair{std::move(**t), QString("trial %1 of %2").arg(number).arg(QString::fromStdString((*found)->name))};
}

void SearchPanel::open_number(int number, bool baseline) {
  if (auto t = fetch(number, baseline)) emit open_trial(QString::fromStdString(t->first.circuit), t->second);
}

void SearchPanel::select_rows(const QList<qint64>& ids) {
  std::set<int64_t> wanted(ids.begin(), ids.end());
  model_->set_linked(wanted);
  if (!wanted.empty()) {
    // Scroll to the first highlighted row unless one is in view already.
    int first = -1;
    for (int r = 0; r < model_->rowCount() && first < 0; ++r)
      if (!model_->row(r).baseline && wanted.count(model_->row(r).number)) first = r;
    if (first >= 0) table_->scrollTo(model_->index(first, 0));
  }
  update_compare_button();
}

void SearchPanel::update_compare_button() {
  // Two rows picked in the table, or else two trials the plots select (compare_selected).
  compare_->setEnabled(table_selection().size() == 2 || model_->linked().size() == 2);
}

std::vector<std::pair<int64_t, bool>> SearchPanel::table_selection() const {
  QModelIndexList rows = table_->selectionModel()->selectedRows();
  std::sort(rows.begin(), rows.end(), [](const QModelIndex& x, const QModelIndex& y) { return x.row() < y.row(); });
  std::vector<std::pair<int64_t, bool>> out;
  for (const QModelIndex& r : rows) out.push_back({model_->row(r.row()).number, model_->row(r.row()).baseline});
  return out;
}

int SearchPanel::trial_rows() const { return model_->total_rows(); }

QString SearchPanel::compare_selected() {
  // The two rows picked in the table, or else the two trials the plots select.
  std::vector<std::pair<int64_t, bool>> picked = table_selection();
  if (picked.size() != 2 && model_->linked().size() == 2) picked = {{*model_->linked().begin(), false}, {*model_->linked().rbegin(), false}};
  if (picked.size() != 2) return QString("select two trials to compare (%1 selected)").arg(picked.size());
  std::optional<std::pair<store::TrialRecord, QString>> t[2];
  for (int i = 0; i < 2; ++i) {
    t[i] = fetch(int(picked[size_t(i)].first), picked[size_t(i)].second);
    if (!t[i]) return QString("trial %1 stored no circuit to compare").arg(picked[size_t(i)].first);
  }
  comparison_ = new TrialDiffDialog(t[0]->first, t[0]->second, t[1]->first, t[1]->second, this);
  comparison_->show();
  return {};
}

QString SearchPanel::export_csv(const QString& path) const {
  if (!reader_) return "no study is shown: start one in the Search dock first";
  auto found = reader_->find_study(study_name_.toStdString());
  if (!found || !*found) return "study " + study_name_ + " is not in " + db_path_;
  auto t = reader_->trials((*found)->id);
  if (!t) return QString::fromStdString(t.error().message);
  if (auto s = base::write_file_atomic(path.toStdString(), search::trials_csv(*t)); !s) return QString::fromStdString(s.error);
  return {};
}

}  // namespace studio
