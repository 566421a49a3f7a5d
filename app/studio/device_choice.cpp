#include "device_choice.h"

#include <QComboBox>
#include <QStandardItemModel>

#include "engine/device.h"

namespace studio {

QComboBox* make_device_choice(const std::string& current) {
  auto* box = new QComboBox;
  box->setObjectName("device");
  box->addItem("auto", "auto");
  box->addItem("cpu", "cpu");
  engine::TorchBuild b = engine::torch_build();
  for (size_t i = 0; i < b.gpus.size(); ++i) {
    QString id = QString("cuda:%1").arg(i);
    box->addItem(id + " (" + QString::fromStdString(b.gpus[i]) + ")", id);
  }
  engine::CudaAvailability cuda = engine::cuda_availability();
  if (!cuda.available) {
    // Offered but greyed, so the user sees that CUDA exists as a choice and why it is not one here.
    box->addItem("cuda (not available)", "cuda");
    auto* model = qobject_cast<QStandardItemModel*>(box->model());
    QStandardItem* item = model->item(box->count() - 1);
    item->setEnabled(false);
    item->setToolTip(QString::fromStdString(cuda.reason));
    box->setToolTip("CUDA is not available: " + QString::fromStdString(cuda.reason));
  }
  int at = box->findData(QString::fromStdString(current));
  box->setCurrentIndex(at >= 0 && (box->model()->flags(box->model()->index(at, 0)) & Qt::ItemIsEnabled) ? at : 0);
  return box;
}

std::string device_of(const QComboBox* box) { return box->currentData().toString().toStdString(); }

}  // namespace studio
