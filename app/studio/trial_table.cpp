#include "trial_table.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <QRegularExpression>

namespace studio {

namespace {

constexpr int kFixedColumns = 5;  // trial, study, status, worker, point; then metrics, then error

}  // namespace

void TrialTableModel::set_rows(std::vector<TrialRow> rows, QStringList metric_names) {
  beginResetModel();
  rows_ = std::move(rows);
  headers_ = QStringList{"trial", "study", "status", "worker", "point"} + metric_names + QStringList{"error"};
  linked_flag_.assign(rows_.size(), 0);
  for (size_t i = 0; i < rows_.size(); ++i) linked_flag_[i] = !rows_[i].baseline && linked_.count(rows_[i].number);
  rebuild_order();
  endResetModel();
}

void TrialTableModel::set_filter(const QString& text) {
  if (text == filter_) return;
  beginResetModel();
  filter_ = text;
  rebuild_order();
  endResetModel();
}

void TrialTableModel::set_linked(const std::set<int64_t>& numbers) {
  linked_ = numbers;
  for (size_t i = 0; i < rows_.size(); ++i) linked_flag_[i] = !rows_[i].baseline && linked_.count(rows_[i].number);
  if (!order_.empty()) emit dataChanged(index(0, 0), index(rowCount() - 1, columnCount() - 1), {Qt::BackgroundRole});
}

int TrialTableModel::view_row(int64_t number, bool baseline) const {
  for (size_t v = 0; v < order_.size(); ++v) {
    const TrialRow& r = rows_[size_t(order_[v])];
    if (r.number == number && r.baseline == baseline) return int(v);
  }
  return -1;
}

QVariant TrialTableModel::value(const TrialRow& r, int column) const {
  if (column == 0) return qlonglong(r.number);
  if (column == 1) return r.study;
  if (column == 2) return r.status;
  if (column == 3) return r.worker;
  if (column == 4) return r.point;
  const int metric = column - kFixedColumns;
  if (metric >= 0 && size_t(metric) < r.metrics.size()) return std::isnan(r.metrics[size_t(metric)]) ? QVariant() : QVariant(r.metrics[size_t(metric)]);
  return r.error;
}

QVariant TrialTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const size_t at = size_t(order_[size_t(index.row())]);
  const TrialRow& r = rows_[at];
  switch (role) {
    case Qt::DisplayRole:
      return value(r, index.column());
    case Qt::UserRole:  // whether the row is a baseline trial
      return r.baseline;
    case Qt::ToolTipRole:
      if (index.column() == 3) return r.worker_detail;
      if (QVariant v = value(r, index.column()); v.typeId() == QMetaType::Double) return QString::number(v.toDouble(), 'g', 10);
      return {};
    case Qt::BackgroundRole:
      return linked_flag_[at] ? QVariant(highlight_) : QVariant();
    default:
      return {};
  }
}

QVariant TrialTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation == Qt::Horizontal && role == Qt::DisplayRole && section >= 0 && section < headers_.size()) return headers_[section];
  return {};
}

void TrialTableModel::sort(int column, Qt::SortOrder order) {
  beginResetModel();  // a reorder of everything: cheaper than persistent-index bookkeeping
  sort_column_ = column, sort_order_ = order;
  rebuild_order();
  endResetModel();
}

namespace {

// One term of the filter: `column:lo..hi` (either bound may be left out), `column>=v`,
// `column<=v`, `trial:3,7,9`, or text that some column must contain.
struct Term {
  int column = -1;  // -1: text
  double lo = -INFINITY, hi = INFINITY;
  std::vector<int64_t> numbers;  // trial:…
  QString text;
};

std::vector<Term> parse_filter(const QString& filter, const QStringList& headers) {
  std::vector<Term> terms;
  for (const QString& word : filter.split(' ', Qt::SkipEmptyParts)) {
    Term t;
    t.text = word;
    static const QRegularExpression form(R"(^([A-Za-z_][\w.]*)(:|>=|<=)(.*)$)");
    QRegularExpressionMatch m = form.match(word);
    int column = m.hasMatch() ? int(headers.indexOf(m.captured(1))) : -1;
    if (column >= 0) {
      const QString op = m.captured(2), rest = m.captured(3);
      bool ok = true;
      auto number = [&](const QString& x, double none) {
        if (x.isEmpty()) return none;
        bool good = false;
        double v = x.toDouble(&good);
        ok = ok && good;
        return v;
      };
      if (op == ">=") t.lo = number(rest, -INFINITY);
      else if (op == "<=") t.hi = number(rest, INFINITY);
      else if (rest.contains("..")) t.lo = number(rest.section("..", 0, 0), -INFINITY), t.hi = number(rest.section("..", 1), INFINITY);
      else if (column == 0)
        for (const QString& n : rest.split(',', Qt::SkipEmptyParts)) t.numbers.push_back(int64_t(number(n, 0)));
      else ok = false;
      if (ok) t.column = column;
    }
    terms.push_back(t);
  }
  return terms;
}

}  // namespace

void TrialTableModel::rebuild_order() {
  order_.clear();
  order_.reserve(rows_.size());
  const std::vector<Term> terms = parse_filter(filter_, headers_);
  for (size_t i = 0; i < rows_.size(); ++i) {
    bool all = true;
    for (const Term& t : terms) {
      bool match = false;
      if (t.column >= 0 && !t.numbers.empty()) {
        match = std::find(t.numbers.begin(), t.numbers.end(), rows_[i].number) != t.numbers.end();
      } else if (t.column >= 0) {
        const QVariant v = value(rows_[i], t.column);
        match = v.isValid() && v.toDouble() >= t.lo && v.toDouble() <= t.hi;
      } else {
        for (int c = 0; c < int(headers_.size()) && !match; ++c) {
          QVariant v = value(rows_[i], c);
          const QString text = v.typeId() == QMetaType::Double ? QString::number(v.toDouble()) : v.toString();
          match = text.contains(t.text, Qt::CaseInsensitive);
        }
      }
      if (!match) {
        all = false;
        break;
      }
    }
    if (all) order_.push_back(int(i));
  }
  if (sort_column_ < 0) return;
  const int c = sort_column_;
  // Numbers as numbers, text by its characters; rows without a value last in either order.
  auto has = [&](int r) { return value(rows_[size_t(r)], c).isValid(); };
  auto missing = std::stable_partition(order_.begin(), order_.end(), has);
  auto less = [&](int a, int b) {
    const QVariant va = value(rows_[size_t(a)], c), vb = value(rows_[size_t(b)], c);
    if (va.typeId() == QMetaType::Double || va.typeId() == QMetaType::LongLong) return va.toDouble() < vb.toDouble();
    return va.toString().compare(vb.toString(), Qt::CaseInsensitive) < 0;
  };
  std::stable_sort(order_.begin(), missing, less);
  if (sort_order_ == Qt::DescendingOrder) std::reverse(order_.begin(), missing);
}

}  // namespace studio
