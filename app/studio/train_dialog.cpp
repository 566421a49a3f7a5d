#include "train_dialog.h"

#include <QPalette>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <functional>
#include <vector>

#include "device_choice.h"
#include "engine/options.h"

namespace studio {

namespace {
using Kind = engine::TrainOption::Kind;

QString key(const engine::TrainOption& o) { return "run/" + QString::fromUtf8(o.name.data(), int(o.name.size())); }

QString label(const engine::TrainOption& o) { return QString::fromUtf8(o.label.data(), int(o.label.size())); }
}  // namespace

RunSettings load_run_settings(const QSettings& s) {
  RunSettings r;
  r.data = s.value("run/data", "fashion-mnist").toString().toStdString();
  for (const engine::TrainOption& o : engine::train_options())
    if (s.contains(key(o))) engine::set_option_text(r.train, o, s.value(key(o)).toString().toStdString());  // a bad value keeps the default
  r.train.seed = s.value("run/seed", 0).toULongLong();
  r.train_limit = s.value("run/limit", 0).toLongLong();
  r.device = s.value("run/device", "auto").toString().toStdString();
  return r;
}

void save_run_settings(QSettings& s, const RunSettings& r) {
  s.setValue("run/data", QString::fromStdString(r.data));
  for (const engine::TrainOption& o : engine::train_options()) s.setValue(key(o), QString::fromStdString(engine::option_text(r.train, o)));
  s.setValue("run/seed", qulonglong(r.train.seed));
  s.setValue("run/limit", qlonglong(r.train_limit));
  s.setValue("run/device", QString::fromStdString(r.device));
}

bool ask_run_settings(QWidget* parent, const QString& title, const RunSettings& current, const QStringList& data_sets, RunSettings& out,
                      const protocol::Hello* engine) {
  QDialog d(parent);
  d.setObjectName("train_dialog");
  d.setWindowTitle(title);
  auto* form = new QFormLayout(&d);
  auto* data = new QComboBox;
  data->setObjectName("data");
  data->addItems(data_sets);
  data->setCurrentText(QString::fromStdString(current.data));
  form->addRow("Data set", data);
  // One widget per option of the table; each reads itself back into a TrainOptions.
  std::vector<std::function<std::optional<std::string>(engine::TrainOptions&)>> readers;
  for (const engine::TrainOption& o : engine::train_options()) {
    QString name = QString::fromUtf8(o.name.data(), int(o.name.size()));
    std::string text = engine::option_text(current.train, o);
    QWidget* w = nullptr;
    if (o.kind == Kind::boolean) {
      auto* c = new QCheckBox;
      c->setChecked(text == "on");
      readers.push_back([c, &o](engine::TrainOptions& t) { return engine::set_option(t, o, c->isChecked()); });
      w = c;
    } else if (o.kind == Kind::choice) {
      auto* c = new QComboBox;
      for (const char* word : o.choices) c->addItem(word);
      c->setCurrentText(QString::fromStdString(text));
      readers.push_back([c, &o](engine::TrainOptions& t) { return engine::set_option(t, o, c->currentText().toStdString()); });
      w = c;
    } else {
      // Text, checked against the table's range on Train: learning rates span 1e-6 to 1, which
      // no spin box's fixed decimals show well.
      auto* e = new QLineEdit(QString::fromStdString(text));
      e->setPlaceholderText(QString::fromStdString(engine::default_text(o)));
      readers.push_back([e, &o](engine::TrainOptions& t) {
        return engine::set_option_text(t, o, e->text().isEmpty() ? engine::default_text(o) : e->text().trimmed().toStdString());
      });
      w = e;
    }
    w->setObjectName(name);
    w->setToolTip(QString::fromUtf8(o.help.data(), int(o.help.size())) + " (default " + QString::fromStdString(engine::default_text(o)) + ")");
    form->addRow(label(o), w);
  }
  auto* seed = new QSpinBox;
  seed->setObjectName("seed");
  seed->setRange(0, 1'000'000);
  seed->setValue(int(current.train.seed));
  form->addRow("Seed", seed);
  auto* limit = new QSpinBox;
  limit->setObjectName("limit");
  limit->setRange(0, 10'000'000);
  limit->setSpecialValueText("all");
  limit->setValue(int(current.train_limit));
  form->addRow("Training examples", limit);
  auto* device = make_device_choice(current.device, engine);
  form->addRow("Device", device);
  auto* error = new QLabel;
  error->setObjectName("error");
  error->setForegroundRole(QPalette::BrightText);  // the theme's error colour
  error->hide();
  form->addRow(error);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  buttons->button(QDialogButtonBox::Ok)->setText("Train");
  RunSettings result = current;
  QObject::connect(buttons, &QDialogButtonBox::accepted, &d, [&] {
    RunSettings r = current;
    auto opts = engine::train_options();
    for (size_t i = 0; i < readers.size(); ++i)
      if (auto err = readers[i](r.train)) {
        error->setText(label(opts[i]) + ": " + QString::fromStdString(*err));
        error->show();
        return;  // the dialog stays open on the bad field
      }
    r.data = data->currentText().toStdString();
    r.train.seed = uint64_t(seed->value());
    r.train_limit = limit->value();
    r.device = device_of(device);
    result = r;
    d.accept();
  });
  QObject::connect(buttons, &QDialogButtonBox::rejected, &d, &QDialog::reject);
  form->addRow(buttons);
  if (d.exec() != QDialog::Accepted) return false;
  out = result;
  return true;
}

}  // namespace studio
