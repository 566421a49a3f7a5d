// Two trials side by side (the search dock's Compare): their metrics with the differences, and
// how their circuits differ, as `circuit diff` reports and draws it (circuit/diff.h).
#pragma once
#include <QDialog>
#include <QImage>
#include <QString>

#include "store/store.h"

class QTableWidget;
class QPlainTextEdit;
class QLabel;

namespace studio {

/// The comparison of trial `a` with trial `b` (B's circuit drawn with A's removed nodes put back).
/// Opens on its own; several can be open at once.
class TrialDiffDialog : public QDialog {
  Q_OBJECT
 public:
  TrialDiffDialog(const store::TrialRecord& a, const QString& a_title, const store::TrialRecord& b, const QString& b_title,
                  QWidget* parent = nullptr);
  QTableWidget* metrics() const { return metrics_; }
  QString diff_text() const;
  /// The diff drawing as rendered (the same renderer as `circuit diff --render`).
  const QImage& drawing() const { return drawing_; }

 private:
  QTableWidget* metrics_ = nullptr;
  QPlainTextEdit* text_ = nullptr;
  QLabel* picture_ = nullptr;
  QImage drawing_;
};

}  // namespace studio
