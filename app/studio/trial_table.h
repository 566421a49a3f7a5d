// The search dock's trials table as a model over plain rows, so a study of 100,000 trials costs
// one vector, not a million widgets: QTableWidget took seconds to fill and minutes to select a
// brushed tenth of such a study (a QItemSelection of 10,000 ranges). Sorting and filtering
// reorder an index; the plots' selection is a per-row flag drawn as the row's background, so a
// brush costs one pass over the rows and one repaint of what is visible.
#pragma once
#include <QAbstractTableModel>
#include <QColor>
#include <QStringList>
#include <cstdint>
#include <set>
#include <vector>

namespace studio {

/// One trial as the table shows it.
struct TrialRow {
  int64_t number = 0;
  bool baseline = false;  // a trial of the study's random-search baseline
  QString study, status, worker, worker_detail, point, error;
  std::vector<double> metrics;  // per metric column; NaN where the trial recorded none
};

/// Trials in columns: trial, study, status, worker, point, one per metric, error.
class TrialTableModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  using QAbstractTableModel::QAbstractTableModel;

  void set_rows(std::vector<TrialRow> rows, QStringList metric_names);
  /// Shows only the rows that match every space-separated term: `column:lo..hi` (a bound may be
  /// left out), `column>=v`, `column<=v`, `trial:3,7,9`, or text some column contains
  /// (case-insensitive); "" shows all.
  void set_filter(const QString& text);
  /// Highlights the study trials with these numbers (the plots' selection).
  void set_linked(const std::set<int64_t>& numbers);
  const std::set<int64_t>& linked() const { return linked_; }
  void set_highlight(QColor c) { highlight_ = c; }

  /// The row shown at `view_row` (after filter and sort).
  const TrialRow& row(int view_row) const { return rows_[size_t(order_[size_t(view_row)])]; }
  /// The view row of a trial, or -1 when filtered out or absent.
  int view_row(int64_t number, bool baseline) const;
  int total_rows() const { return int(rows_.size()); }

  int rowCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : int(order_.size()); }
  int columnCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : int(headers_.size()); }
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
  void sort(int column, Qt::SortOrder order) override;

 private:
  QVariant value(const TrialRow& r, int column) const;
  void rebuild_order();  // filter, then the current sort

  std::vector<TrialRow> rows_;
  std::vector<int> order_;
  QStringList headers_;
  QString filter_;
  int sort_column_ = -1;
  Qt::SortOrder sort_order_ = Qt::AscendingOrder;
  std::set<int64_t> linked_;
  std::vector<char> linked_flag_;  // per row of rows_
  QColor highlight_{70, 130, 200, 90};
};

}  // namespace studio
