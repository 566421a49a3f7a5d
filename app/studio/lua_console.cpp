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
#include "script/circuit_module.h"
#include "script/engine_extension.h"
#include "script/host.h"

namespace studio {

namespace {

// print(...) for the console: tab-separated like Lua's, queued to the GUI thread.
int console_print(lua_State* L) {
  auto* console = static_cast<LuaConsole*>(lua_touserdata(L, lua_upvalueindex(1)));
  QString line;
  for (int i = 1, n = lua_gettop(L); i <= n; ++i) line += (i > 1 ? "\t" : "") + QString::fromUtf8(luaL_tolstring(L, i, nullptr)), lua_pop(L, 1);
  QMetaObject::invokeMethod(console, "append_line", Qt::QueuedConnection, Q_ARG(QString, line));
  return 0;
}

}  // namespace

LuaConsole::LuaConsole(QWidget* parent) : QWidget(parent) {
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

  script::install_engine_extension();
  // Tensors and models the console's scripts make count against one limit: the setting
  // lua/memory_mib (MiB), by default the engine's budget (docs/lua.md, "Memory"). A script past it
  // ends with the message here; the window stays.
  script::HostOptions options;
  options.limits.native_bytes = size_t(std::max<qlonglong>(0, QSettings().value("lua/memory_mib", 0).toLongLong())) << 20;
  host_ = std::make_unique<script::Host>(options);
  host_->load_plugins(script::default_plugin_folders());
  lua_State* L = host_->state();
  lua_pushlightuserdata(L, this);
  lua_pushcclosure(L, console_print, 1);
  lua_setglobal(L, "print");
  append("Lua 5.4 with the `circuit` module. `c` is the open circuit; changes to it come back as one undoable edit.");
}

LuaConsole::~LuaConsole() {
  if (worker_.joinable()) worker_.join();
}

QString LuaConsole::output_text() const { return out_->toPlainText(); }

void LuaConsole::append_line(const QString& text) { append(text); }

void LuaConsole::append(const QString& text, bool error) {
  const QString colour = out_->palette().color(QPalette::BrightText).name();  // the theme's error colour
  if (error) out_->appendHtml("<span style='color:" + colour + "'>" + text.toHtmlEscaped().replace("\n", "<br>") + "</span>");
  else out_->appendPlainText(text);
}

void LuaConsole::stop() {
  if (busy_) host_->interrupt();
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
  if (worker_.joinable()) worker_.join();
  set_busy(true);
  worker_ = std::thread([this, text = code.toStdString(), chunk, current] {
    lua_State* L = host_->state();
    script::push_circuit(L, circuit::Document(current));
    lua_setglobal(L, "c");
    // A line is first tried as an expression, as lua.c does, so `c:info()` shows its value.
    int top = lua_gettop(L);
    bool line = chunk == "=console";
    int status = line ? luaL_loadbufferx(L, ("return " + text).data(), text.size() + 7, chunk.c_str(), "t") : LUA_ERRSYNTAX;
    if (status != LUA_OK) {
      lua_settop(L, top);
      status = luaL_loadbufferx(L, text.data(), text.size(), chunk.c_str(), "t");
    }
    QString error, results;
    if (status != LUA_OK) {
      error = QString::fromUtf8(lua_tostring(L, -1));
      lua_settop(L, top);
    } else if (auto s = host_->call(0, LUA_MULTRET); !s) {
      error = QString::fromStdString(s.error);
    } else {
      for (int i = top + 1; i <= lua_gettop(L); ++i) results += (i > top + 1 ? "\t" : "") + QString::fromUtf8(luaL_tolstring(L, i, nullptr)), lua_pop(L, 1);
      lua_settop(L, top);
    }
    std::optional<circuit::Circuit> changed;
    lua_getglobal(L, "c");
    if (circuit::Document* d = script::to_circuit(L, -1))
      if (circuit::circuit_to_text(d->circuit()) != circuit::circuit_to_text(current)) changed = d->circuit();
    lua_settop(L, top);
    QMetaObject::invokeMethod(this, [this, error, results, changed] {
      if (!results.isEmpty()) append(results);
      if (!error.isEmpty()) append(error, true);
      set_busy(false);
      if (changed) emit circuit_changed(*changed);
      emit finished(error);
    }, Qt::QueuedConnection);
  });
}

}  // namespace studio
