// The search dock: start a study on a search space, watch its Pareto front and hypervolume fill in
// (plots/), with a random-search baseline run alongside, and a sortable, filterable trials table.
// Clicking a point or a row opens that trial's circuit. The study runs in the window's engine
// process (a Search request), one trial per call into the store, so Cancel takes effect between trials and nothing is lost: every
// trial is committed as it finishes, and the same study resumes from the store. A study shown
// from a store (Open…, or a PostgreSQL URL that workers on other machines fill) is watched: a
// thread with its own connection polls it once a second and the plots and table grow as trials
// are committed, without blocking the GUI, even while the server is unreachable.
#pragma once
#include <QPointer>
#include <QWidget>

#include "engine/train.h"
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "search/report.h"
#include "search/space.h"
#include "store/store.h"
#include "trial_diff.h"
#include "trial_table.h"
#include "plots/plot_data.h"
#include "protocol/protocol.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableView;
class QVulkanInstance;

namespace studio {

class EngineClient;
class SearchPlotsWindow;

/// A study as the store holds it, read off the GUI thread.
struct StudySnapshot {
  std::optional<store::StudyInfo> info;
  std::vector<store::TrialRecord> trials, baseline;  // the study's and its "-random" baseline's
};

/// A snapshot made ready to show: plot points with Pareto ranks, hypervolume curves, table rows.
struct PreparedStudy {
  StudySnapshot snapshot;
  ParetoPoints points;
  HypervolumeHistory hypervolume;
  std::vector<TrialRow> rows;
  QStringList metrics;
  int64_t seq = 0, running = 0, queued = 0;  // the last finished trial's seq, running and queued counts
};

/// What to run. The baseline study is named `study` + "-random"; `db` is a file or a URL.
struct SearchRequest {
  QString space_path, study, strategy = "nsga2", db;
  int trials = 12;
  engine::TrainOptions train;  // how each trial trains (the option table; device below)
  int64_t train_limit = 2000;
  uint64_t seed = 0;
  bool baseline = true;
  std::string device = "auto";
};

/// The search dock: study controls, the plots window and the trials table.
class SearchPanel : public QWidget {
  Q_OBJECT
 public:
  SearchPanel(QVulkanInstance* vulkan, EngineClient* engine, QWidget* parent = nullptr);
  ~SearchPanel() override;

  bool start(const SearchRequest& r);
  void cancel();
  bool running() const { return running_; }
  /// Shows a study already in a store (a file or a postgresql:// URL) and keeps watching it.
  QString show_study(const QString& db, const QString& study);
  /// Adds a study of any store (a file or a postgresql:// URL), and its "-random" baseline when
  /// it has one, to the comparison with the shown study: the plots' Compare view. Returns the
  /// error (no such study, other objectives, store unreachable), or "".
  QString add_comparison(const QString& db, const QString& study);
  void clear_comparison();
  size_t compared_count() const { return compared_.size(); }
  /// Writes the plots' selection as a table filter (the brushed objective ranges, and the trial
  /// numbers when a choice axis or a rectangle made it), applies it and keeps it among the saved
  /// filters the filter box offers. Returns the filter, or "" when nothing is selected.
  QString save_selection_as_filter();
  /// How often a watched study is polled (default 1000 ms).
  void set_watch_interval_ms(int ms) { watch_ms_ = ms; }
  /// Writes every trial of the shown study as CSV; returns the error, or "" on success.
  QString export_csv(const QString& path) const;
  void set_dark(bool dark);
  SearchPlotsWindow* plots() const { return plots_; }
  QTableView* table() const { return table_; }
  TrialTableModel* trials_model() const { return model_; }
  /// Rows of the trials table: the shown study's trials and its baseline's.
  int trial_rows() const;
  /// Opens the comparison of the two trials selected in the table (the Compare button); returns
  /// why not, or "".
  QString compare_selected();
  /// The comparison opened last, while it is open.
  TrialDiffDialog* comparison() const { return comparison_; }

 signals:
  void open_trial(QString circuit_text, QString title);
  void finished(QString summary);

 private:
  void reload();
  void on_replies(const std::vector<protocol::Reply>& batch);
  void end(const QString& summary);
  /// The shown study beside the compared ones, for the plots' Compare view.
  void update_comparison(const StudySnapshot& s);
  /// A study picked in a store: a file dialog unless the Store field holds a URL; "" if none.
  std::pair<QString, QString> pick_study(const QString& title);
  void show_snapshot(const StudySnapshot& s);
  void show_prepared(PreparedStudy p);
  void watch(const std::string& db, const std::string& study);
  // What the last snapshot shown held, so the watcher's first poll does not read it all again.
  int64_t shown_seq_ = 0, shown_running_ = -1, shown_queued_ = -1;
  void stop_watching();
  void filter(const QString& text);
  void open_number(int number, bool baseline);
  /// Highlights the table rows of these study trials (the plots' selection).
  void select_rows(const QList<qint64>& ids);
  /// The trials selected in the table (number, baseline), in view order.
  std::vector<std::pair<int64_t, bool>> table_selection() const;
  void update_compare_button();
  /// A stored trial of the shown study (or its random baseline) and its title ("trial 3 of s").
  std::optional<std::pair<store::TrialRecord, QString>> fetch(int number, bool baseline);

  QLineEdit* space_ = nullptr;
  QLineEdit* study_ = nullptr;
  QLineEdit* db_ = nullptr;
  QComboBox* strategy_ = nullptr;
  QSpinBox* trials_ = nullptr;
  QSpinBox* limit_ = nullptr;
  QComboBox* device_ = nullptr;
  QCheckBox* baseline_ = nullptr;
  QPushButton* start_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* status_ = nullptr;
  QLineEdit* filter_ = nullptr;
  QTableView* table_ = nullptr;
  TrialTableModel* model_ = nullptr;
  QPushButton* compare_ = nullptr;
  QPushButton* compare_study_ = nullptr;
  // Studies compared with the shown one, read when added (labelled study@store).
  struct Compared {
    QString label;
    search::ComparedStudy study;
  };
  std::vector<Compared> compared_;
  QPointer<TrialDiffDialog> comparison_;
  SearchPlotsWindow* plots_ = nullptr;

  // The study shown: a reading connection of its own (SQLite WAL lets it read while the worker writes).
  QString db_path_, study_name_;
  std::unique_ptr<store::Store> reader_;
  std::optional<search::Space> space_def_;
  EngineClient* engine_;
  int64_t search_id_ = 0;  // the running study's request
  int trials_done_ = 0;
  // The watcher of a shown study.
  std::thread watcher_;
  std::mutex watch_m_;
  std::condition_variable watch_cv_;
  bool watch_stop_ = false;
  int watch_ms_ = 1000;
  bool running_ = false;
};

}  // namespace studio
