#include "lua_console.h"

#include <algorithm>
#include <QPalette>
#include <QFile>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QShortcut>
#include <QVBoxLayout>

#include "circuit/circuit_file.h"
#include "engine_client.h"

namespace studio {


LuaConsole::LuaConsole(EngineClient* engine, QWidget* parent) : QWidget(parent), engine_(engine) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  out_ = new QPlainTextEdit;
  out_->setObjectName("lua_output");
  out_->setReadOnly(true);
  out_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  out_->setMaximumBlockCount(5000);
  auto* row = new QHBoxLayout;
  input_ = new QLineEdit;
  input_->setObjectName("lua_input");
  input_->setFont(out_->font());
  input_->setPlaceholderText("Lua: c is the open circuit — e.g.  print(c:info().params)   (Up/Down: history)");
  input_->installEventFilter(this);
  script_button_ = new QPushButton("Run script…");
  stop_button_ = new QPushButton("Stop");
  stop_button_->setObjectName("lua_stop");
  stop_button_->setToolTip("Stop the running script (Esc)");
  stop_button_->setEnabled(false);
  row->addWidget(input_, 1);
  row->addWidget(script_button_);
  row->addWidget(stop_button_);
  layout->addWidget(out_, 1);
  layout->addLayout(row);
  connect(input_, &QLineEdit::returnPressed, this, [this] {
    QString code = input_->text();
    if (code.trimmed().isEmpty() || busy_) return;
    history_ << code;
    history_at_ = int(history_.size());
    input_->clear();
    append("> " + code);
    emit line_entered(code);
  });
  connect(script_button_, &QPushButton::clicked, this, [this] { emit line_entered(QString()); });
  connect(stop_button_, &QPushButton::clicked, this, &LuaConsole::stop);
  new QShortcut(QKeySequence(Qt::Key_Escape), this, this, &LuaConsole::stop, Qt::WidgetWithChildrenShortcut);  // owned by this

  connect(engine_, &EngineClient::replies, this, &LuaConsole::on_replies);
  connect(engine_, &EngineClient::died, this, [this](const QString& why, const QString& tail) {
    if (!busy_) return append("The engine " + why + ": the console's variables are gone; the next line starts a fresh one.", true);
    done("", "The engine " + why + (tail.isEmpty() ? "" : "; its last words:\n" + tail) +
                 "\nThe console's variables are gone; the next line starts a fresh engine.", std::nullopt);
  });
  append("Lua 5.4 with the `circuit` module. `c` is the open circuit; changes to it come back as one undoable edit.");
}

LuaConsole::~LuaConsole() = default;

QString LuaConsole::output_text() const { return out_->toPlainText(); }

void LuaConsole::append_line(const QString& text) { append(text); }

void LuaConsole::append(const QString& text, bool error) {
  const QString colour = out_->palette().color(QPalette::BrightText).name();  // the theme's error colour
  if (error) out_->appendHtml("<span style='color:" + colour + "'>" + text.toHtmlEscaped().replace("\n", "<br>") + "</span>");
  else out_->appendPlainText(text);
}

void LuaConsole::stop() {
  if (busy_) engine_->cancel(id_);
}

void LuaConsole::set_busy(bool on) {
  busy_ = on;
  input_->setEnabled(!on);
  script_button_->setEnabled(!on);
  stop_button_->setEnabled(on);
  if (!on) input_->setFocus();
}

bool LuaConsole::eventFilter(QObject* o, QEvent* e) {
  if (o == input_ && e->type() == QEvent::KeyPress && !history_.isEmpty()) {
    int key = static_cast<QKeyEvent*>(e)->key();
    if (key == Qt::Key_Up || key == Qt::Key_Down) {
      history_at_ = std::clamp(history_at_ + (key == Qt::Key_Up ? -1 : 1), 0, int(history_.size()));
      input_->setText(history_at_ < history_.size() ? history_[history_at_] : QString());
      return true;
    }
  }
  return QWidget::eventFilter(o, e);
}

void LuaConsole::run_file(const QString& path, const circuit::Circuit& current) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    append(path + ": cannot read: " + f.errorString(), true);
    emit finished("cannot read " + path);
    return;
  }
  append("> dofile '" + path + "'");
  run(QString::fromUtf8(f.readAll()), current, "@" + path.toStdString());
}

void LuaConsole::run(const QString& code, const circuit::Circuit& current, const std::string& chunk) {
  if (busy_) return;
  protocol::Lua l;
  l.code = code.toStdString();
  l.chunk = chunk;
  l.expression = chunk == "=console";
  l.circuit = circuit::circuit_to_text(current);
  set_busy(true);
  QString error;
  id_ = engine_->send(std::move(l), &error);
  if (!id_) done("", error, std::nullopt);
}

void LuaConsole::on_replies(const std::vector<protocol::Reply>& batch) {
  for (const protocol::Reply& r : batch) {
    if (!busy_ || r.id != id_) continue;
    if (auto* e = std::get_if<events::Event>(&r.body)) {
      if (auto* line = std::get_if<events::LogLine>(e)) append(QString::fromStdString(line->text));
    } else if (auto* d = std::get_if<protocol::LuaDone>(&r.body)) {
      done(QString::fromStdString(d->results), QString::fromStdString(d->error), d->circuit);
    } else if (auto* p = std::get_if<protocol::Problem>(&r.body)) {
      done("", QString::fromStdString(p->message), std::nullopt);
    }
  }
}

void LuaConsole::done(const QString& results, const QString& error, const std::optional<std::string>& text) {
  id_ = 0;
  if (!results.isEmpty()) append(results);
  if (!error.isEmpty()) append(error, true);
  std::optional<circuit::Circuit> changed;
  if (text) {
    auto c = circuit::parse_circuit(*text, "the console's c");
    if (c) changed = std::move(*c);
    else append(QString::fromStdString(c.error().message), true);
  }
  set_busy(false);
  if (changed) emit circuit_changed(*changed);
  emit finished(error);
}

}  // namespace studio
