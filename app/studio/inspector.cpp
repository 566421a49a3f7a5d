#include "inspector.h"

#include <algorithm>
#include <QPalette>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QSpinBox>
#include <QVBoxLayout>
#include <climits>
#include <sstream>

#include "circuit/op.h"
#include "circuit/selection.h"

namespace studio {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    size_t b = item.find_first_not_of(" \t[]"), e = item.find_last_not_of(" \t[]");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

// "128 KiB / token + 0 B state; 1.0 GiB at 8,192 tokens (bf16)": what a sequence keeps when the
// model generates, at the circuit's context (docs/cost.md).
QString inference_text(const circuit::InferenceMemory& m, const circuit::Circuit& c) {
  auto bytes = [](int64_t elements) { return QLocale::system().formattedDataSize(2 * elements, 1, QLocale::DataSizeTraditionalFormat); };
  int64_t context = circuit::inference_context(c);
  return bytes(m.per_token_unbounded()) + " / token + " + bytes(m.state) + " state; " + bytes(m.at(context)) + " at " +
         QLocale::system().toString(qlonglong(context)) + " tokens (bf16)";
}

QString human(int64_t n) {
  if (n >= 1'000'000'000) return QString::number(double(n) / 1e9, 'g', 3) + "G";
  if (n >= 1'000'000) return QString::number(double(n) / 1e6, 'g', 3) + "M";
  if (n >= 1'000) return QString::number(double(n) / 1e3, 'g', 3) + "K";
  return QString::number(n);
}

}  // namespace

Inspector::Inspector(QWidget* parent) : QWidget(parent) {
  outer_ = new QVBoxLayout(this);
  problem_ = new QLabel(this);
  problem_->setWordWrap(true);
  problem_->setForegroundRole(QPalette::BrightText);  // the theme's error colour
  problem_->hide();
  outer_->addWidget(problem_);
  outer_->addStretch(1);
}

void Inspector::clear_form() {
  if (form_host_) form_host_->deleteLater();
  form_host_ = new QWidget(this);
  form_ = new QFormLayout(form_host_);
  form_->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  outer_->insertWidget(0, form_host_);
  form_host_->show();  // a layout would only show it from the event loop, after a grab or test looked
}

void Inspector::show_problem(const QString& text) {
  problem_->setText(text);
  problem_->setVisible(!text.isEmpty());
}

void Inspector::show_node(const circuit::Document& doc, const std::string& path) {
  path_ = path;
  clear_form();
  show_problem({});
  circuit::NodeView v = circuit::view_node(doc, path);
  if (!v.node) {
    // The circuit's summary: what a user checks before training.
    const auto& c = doc.circuit();
    form_->addRow(new QLabel("<b>" + QString::fromStdString(c.name.empty() ? "untitled" : c.name) + "</b>"));
    form_->addRow("Nodes", new QLabel(QString::number(c.graph.nodes.size())));
    form_->addRow("Parameters", new QLabel(human(doc.analysis().total.params)));
    form_->addRow("Active params", new QLabel(human(doc.analysis().total.active_params)));
    form_->addRow("FLOPs / example", new QLabel(human(doc.analysis().total.flops)));
    if (const auto& m = doc.analysis().total.inference; !m.empty()) form_->addRow("Inference memory", new QLabel(inference_text(m, c)));
    auto problems = doc.analysis().diagnostics(c.graph);
    auto* status = new QLabel(problems.empty() ? "shapes check" : QString::number(problems.size()) + " problem(s): " +
                                                                      QString::fromStdString(problems.front().message));
    status->setWordWrap(true);
    if (!problems.empty()) status->setForegroundRole(QPalette::BrightText);
    form_->addRow("Status", status);
    form_->addRow(new QLabel("<i>Select a node to edit it.</i>"));
    return;
  }
  const circuit::Node& n = *v.node;
  const circuit::OpDef* def = circuit::find_op(n.op);

  auto* name = new QLineEdit(QString::fromStdString(n.name));
  name->setObjectName("inspector_name");
  connect(name, &QLineEdit::editingFinished, this, [this, name, path] {
    std::string to = name->text().trimmed().toStdString();
    if (!to.empty() && to != circuit::split_path(path).name) emit command(circuit::RenameNode{path, to});
  });
  form_->addRow("Name", name);
  auto* op = new QLabel("<b>" + QString::fromStdString(n.op) + "</b>");
  if (def) op->setToolTip(QString::fromStdString(def->doc));
  form_->addRow("Op", op);

  // Inputs: every output port of the other nodes of the same graph.
  QStringList ports{"(unconnected)"};
  for (size_t i = 0; i < v.graph->nodes.size(); ++i) {
    const auto& other = v.graph->nodes[i];
    if (other.name == n.name) continue;
    size_t outs = i < v.analysis->nodes.size() ? std::max<size_t>(1, v.analysis->nodes[i].outputs.size()) : 1;
    for (size_t p = 0; p < outs; ++p) ports << QString::fromStdString(circuit::to_string(circuit::PortRef{other.name, int(p)}));
  }
  for (size_t q = 0; q < n.inputs.size(); ++q) {
    auto* box = new QComboBox;
    box->addItems(ports);
    box->setObjectName(QString("inspector_input_%1").arg(q));
    QString current = n.inputs[q].connected() ? QString::fromStdString(circuit::to_string(n.inputs[q])) : "(unconnected)";
    box->setCurrentText(current);
    connect(box, &QComboBox::currentTextChanged, this, [this, path, q, node = n](const QString& text) {
      std::vector<circuit::PortRef> in = node.inputs;
      if (text == "(unconnected)") in[q] = {};
      else if (auto p = circuit::parse_port(text.toStdString())) in[q] = *p;
      emit command(circuit::SetInputs{path, in});
    });
    form_->addRow(QString("Input %1").arg(q), box);
  }

  if (def)
    for (const auto& spec : def->attrs) {
      QWidget* ed = attr_editor(spec, n);
      auto* label = new QLabel(QString::fromStdString(spec.name) + (spec.default_value ? "" : " *"));
      std::string tip = spec.doc;
      if (spec.min > -1e299 || spec.max < 1e299) {
        std::ostringstream r;
        r << " (range " << spec.min << " to " << spec.max << ")";
        tip += r.str();
      }
      label->setToolTip(QString::fromStdString(tip));
      ed->setToolTip(label->toolTip());
      form_->addRow(label, ed);
    }

  // What shape inference says about this node.
  const circuit::NodeInfo& info = *v.info;
  for (size_t p = 0; p < info.outputs.size(); ++p)
    form_->addRow(QString("Output %1").arg(p), new QLabel(QString::fromStdString(circuit::to_string(info.outputs[p]))));
  if (info.cost.params) form_->addRow("Parameters", new QLabel(human(info.cost.params)));
  if (info.cost.flops) form_->addRow("FLOPs", new QLabel(human(info.cost.flops)));
  if (!info.cost.inference.empty()) form_->addRow("Inference memory", new QLabel(inference_text(info.cost.inference, doc.circuit())));
  if (!info.error.empty() || info.blocked) {
    auto* err = new QLabel(info.blocked ? "not checked: an input has a problem upstream" : QString::fromStdString(info.error));
    err->setObjectName("inspector_error");
    err->setWordWrap(true);
    err->setForegroundRole(QPalette::BrightText);
    form_->addRow("Problem", err);
  }
}

QWidget* Inspector::attr_editor(const circuit::AttrSpec& spec, const circuit::Node& node) {
  using circuit::AttrType;
  std::string path = path_, key = spec.name;
  auto it = node.attrs.find(spec.name);
  const circuit::AttrValue* value = it != node.attrs.end() ? &it->second : (spec.default_value ? &*spec.default_value : nullptr);
  auto set = [this, path, key](circuit::AttrValue v) { emit command(circuit::SetAttr{path, key, std::move(v)}); };
  QWidget* w = nullptr;
  switch (spec.type) {
    case AttrType::Int: {
      auto* box = new QSpinBox;
      box->setRange(int(std::max(spec.min, double(INT_MIN))), int(std::min(spec.max, double(INT_MAX))));
      if (value) box->setValue(int(std::get<int64_t>(*value)));
      else box->setSpecialValueText("(required)"), box->setValue(box->minimum());
      box->setKeyboardTracking(false);  // one command per finished edit, not per keystroke
      connect(box, &QSpinBox::valueChanged, this, [set](int x) { set(int64_t(x)); });
      w = box;
      break;
    }
    case AttrType::Float: {
      auto* box = new QDoubleSpinBox;
      box->setDecimals(6);
      box->setRange(std::max(spec.min, -1e12), std::min(spec.max, 1e12));
      box->setSingleStep(0.1);
      if (value) box->setValue(std::holds_alternative<double>(*value) ? std::get<double>(*value) : double(std::get<int64_t>(*value)));
      box->setKeyboardTracking(false);
      connect(box, &QDoubleSpinBox::valueChanged, this, [set](double x) { set(x); });
      w = box;
      break;
    }
    case AttrType::Bool: {
      auto* box = new QCheckBox;
      box->setChecked(value && std::get<bool>(*value));
      connect(box, &QCheckBox::toggled, this, [set](bool on) { set(on); });
      w = box;
      break;
    }
    case AttrType::Enum: {
      auto* box = new QComboBox;
      for (auto& c : spec.choices) box->addItem(QString::fromStdString(c));
      if (value) box->setCurrentText(QString::fromStdString(std::get<std::string>(*value)));
      connect(box, &QComboBox::currentTextChanged, this, [set](const QString& t) { set(t.toStdString()); });
      w = box;
      break;
    }
    case AttrType::String: {
      auto* ed = new QLineEdit(value ? QString::fromStdString(std::get<std::string>(*value)) : QString());
      // An empty default means "decided by the op" (the docs say how): show that instead of nothing.
      if (ed->text().isEmpty()) ed->setPlaceholderText(QString::fromStdString(spec.doc));
      // editingFinished also fires on focus loss, e.g. when the form is rebuilt: only changes count.
      connect(ed, &QLineEdit::editingFinished, this, [set, ed, was = ed->text()] {
        if (ed->text() != was) set(ed->text().toStdString());
      });
      w = ed;
      break;
    }
    case AttrType::Ints: {
      std::string text;
      if (value)
        for (int64_t x : std::get<std::vector<int64_t>>(*value)) text += (text.empty() ? "" : ", ") + std::to_string(x);
      auto* ed = new QLineEdit(QString::fromStdString(text));
      connect(ed, &QLineEdit::editingFinished, this, [this, set, ed, was = ed->text()] {
        if (ed->text() == was) return;
        std::vector<int64_t> v;
        for (auto& s : split_list(ed->text().toStdString())) {
          try {
            v.push_back(std::stoll(s));
          } catch (...) {
            show_problem("`" + QString::fromStdString(s) + "` is not an integer");
            return;
          }
        }
        set(v);
      });
      w = ed;
      break;
    }
    case AttrType::Strings:
    case AttrType::Axes: {
      auto* ed = new QLineEdit(value ? QString::fromStdString(join(std::get<std::vector<std::string>>(*value))) : QString());
      ed->setPlaceholderText(spec.type == AttrType::Axes ? "batch, seq, d_model:128" : "a, b");
      connect(ed, &QLineEdit::editingFinished, this, [set, ed, was = ed->text()] {
        if (ed->text() != was) set(split_list(ed->text().toStdString()));
      });
      w = ed;
      break;
    }
  }
  w->setObjectName(QString::fromStdString("attr_" + spec.name));
  return w;
}

ProblemsList::ProblemsList(QWidget* parent) : QListWidget(parent) {
  setObjectName("problems");
  setWordWrap(true);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  connect(this, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
    std::string node = item->data(Qt::UserRole).toString().toStdString();
    if (!node.empty()) emit node_activated(node);
  });
}

void ProblemsList::show_problems(const circuit::Document& doc) {
  clear();
  for (auto& d : doc.analysis().diagnostics(doc.circuit().graph)) {
    auto* item = new QListWidgetItem(QString::fromStdString(d.message), this);
    item->setData(Qt::UserRole, QString::fromStdString(d.node));
    item->setForeground(palette().brush(QPalette::BrightText));
  }
}

}  // namespace studio
