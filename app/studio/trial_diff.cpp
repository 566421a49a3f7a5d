#include "trial_diff.h"

#include <set>

#include <QFontDatabase>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QScrollArea>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include "circuit/circuit_file.h"
#include "circuit/diff.h"
#include "diagram/diagram.h"
#include "diagram/render.h"

namespace studio {

namespace {

QTableWidgetItem* number(double v) {
  auto* item = new QTableWidgetItem;
  item->setData(Qt::DisplayRole, v);
  item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  return item;
}

}  // namespace

TrialDiffDialog::TrialDiffDialog(const store::TrialRecord& a, const QString& a_title, const store::TrialRecord& b, const QString& b_title,
                                 QWidget* parent)
    : QDialog(parent) {
  setObjectName("trial_diff");
  setWindowTitle(a_title + " → " + b_title);
  setAttribute(Qt::WA_DeleteOnClose);
  resize(1100, 720);

  // Metrics: one row per metric either trial recorded, with B − A.
  std::set<std::string> names;
  for (auto* t : {&a, &b})
    for (auto& [k, v] : t->metrics) names.insert(k);
  metrics_ = new QTableWidget(int(names.size()), 4);
  metrics_->setObjectName("trial_diff_metrics");
  metrics_->setHorizontalHeaderLabels({"metric", a_title, b_title, "difference"});
  metrics_->verticalHeader()->hide();
  metrics_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  int row = 0;
  for (const std::string& m : names) {
    metrics_->setItem(row, 0, new QTableWidgetItem(QString::fromStdString(m)));
    auto ia = a.metrics.find(m), ib = b.metrics.find(m);
    metrics_->setItem(row, 1, ia == a.metrics.end() ? new QTableWidgetItem : number(ia->second));
    metrics_->setItem(row, 2, ib == b.metrics.end() ? new QTableWidgetItem : number(ib->second));
    if (ia != a.metrics.end() && ib != b.metrics.end()) metrics_->setItem(row, 3, number(ib->second - ia->second));
    ++row;
  }
  metrics_->resizeColumnsToContents();

  text_ = new QPlainTextEdit;
  text_->setObjectName("trial_diff_text");
  text_->setReadOnly(true);
  text_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  text_->setLineWrapMode(QPlainTextEdit::NoWrap);
  picture_ = new QLabel;
  picture_->setAlignment(Qt::AlignLeft | Qt::AlignTop);
  auto* scroll = new QScrollArea;
  scroll->setWidget(picture_);
  scroll->setWidgetResizable(false);

  auto ca = circuit::parse_circuit(a.circuit, a_title.toStdString());
  auto cb = circuit::parse_circuit(b.circuit, b_title.toStdString());
  if (!ca || !cb) {
    text_->setPlainText(QString::fromStdString(!ca ? ca.error().message : cb.error().message));
  } else {
    circuit::CircuitDiff d = circuit::diff(*ca, *cb);
    text_->setPlainText(QString::fromStdString(circuit::diff_text(d, a_title.toStdString(), b_title.toStdString())));
    circuit::diagram::Scene scene = circuit::diagram::diff_scene(*ca, *cb, d);
    if (auto png = circuit::diagram::render(scene, circuit::diagram::Format::png, devicePixelRatioF())) {
      drawing_ = QImage::fromData(reinterpret_cast<const uchar*>(png->data()), int(png->size()), "PNG");
      drawing_.setDevicePixelRatio(devicePixelRatioF());
      picture_->setPixmap(QPixmap::fromImage(drawing_));
      picture_->adjustSize();
    } else {
      picture_->setText(QString::fromStdString(png.error().message));
    }
  }

  auto* left = new QSplitter(Qt::Vertical);
  left->addWidget(metrics_);
  left->addWidget(text_);
  left->setSizes({330, 390});
  auto* split = new QSplitter;
  split->addWidget(left);
  split->addWidget(scroll);
  split->setSizes({470, 630});  // the metrics' four columns and the report's lines fit
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(split);
}

QString TrialDiffDialog::diff_text() const { return text_->toPlainText(); }

}  // namespace studio
