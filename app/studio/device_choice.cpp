#include "device_choice.h"

#include <QComboBox>
#include <QStandardItemModel>

namespace studio {

QComboBox* make_device_choice(const std::string& current, const protocol::Hello* engine) {
  auto* box = new QComboBox;
  box->setObjectName("device");
  box->setProperty("wanted", QString::fromStdString(current));  // selected once the engine offers it
  offer_devices(box, engine);
  return box;
}

void offer_devices(QComboBox* box, const protocol::Hello* engine) {
  QString current = box->currentIndex() > 0 ? box->currentData().toString() : box->property("wanted").toString();
  box->clear();
  box->addItem("auto", "auto");
  box->addItem("cpu", "cpu");
  box->setToolTip(engine ? QString() : "The engine's devices are listed once it has started (it starts with the first job).");
  if (engine) {
    for (const std::string& d : engine->devices) {
      if (d.rfind("cuda:", 0) != 0) continue;
      QString text = QString::fromStdString(d);
      box->addItem(text, text.section(' ', 0, 0));
    }
    if (!engine->cuda_reason.empty()) {
      // Offered but greyed, so the user sees that CUDA exists as a choice and why it is not one there.
      box->addItem("cuda (not available)", "cuda");
      auto* model = qobject_cast<QStandardItemModel*>(box->model());
      QStandardItem* item = model->item(box->count() - 1);
      item->setEnabled(false);
      item->setToolTip(QString::fromStdString(engine->cuda_reason));
      box->setToolTip("CUDA is not available: " + QString::fromStdString(engine->cuda_reason));
    }
  }
  int at = box->findData(current);
  box->setCurrentIndex(at >= 0 && (box->model()->flags(box->model()->index(at, 0)) & Qt::ItemIsEnabled) ? at : 0);
  box->setProperty("wanted", at < 0 ? current : QString());}

std::string device_of(const QComboBox* box) {
  return box->currentData().toString().toStdString();
}

}  // namespace studio
