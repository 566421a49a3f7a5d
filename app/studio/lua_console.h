// The Lua console dock: run a line or a script file against the open circuit. The circuit is
// the global `c` (a copy); when the script changes it, the change comes back to the editor as one
// undoable edit. Scripts run in the window's engine process, in one Lua state whose globals
// persist from line to line (a notebook kernel's); a long one (training from Lua) leaves the GUI
// responsive and can be stopped, one that runs out of memory or crashes takes only the engine
// with it. `print` goes to the console.
#pragma once
#include <QWidget>
#include <vector>

#include "circuit/graph.h"
#include "protocol/protocol.h"

class QLineEdit;
class QPlainTextEdit;
class QPushButton;

namespace studio {

class EngineClient;

/// The console dock: output, an input line with history, Run script…, Stop.
class LuaConsole : public QWidget {
  Q_OBJECT
 public:
  explicit LuaConsole(EngineClient* engine, QWidget* parent = nullptr);
  ~LuaConsole() override;

  /// Runs `code` (a line, or a file's text with `chunk` = "@path") against `current`.
  void run(const QString& code, const circuit::Circuit& current, const std::string& chunk = "=console");
  void run_file(const QString& path, const circuit::Circuit& current);
  /// Stops the running script (Stop button, Esc): it ends with "interrupted" and its traceback.
  void stop();
  bool busy() const { return busy_; }
  QString output_text() const;
  QLineEdit* input() const { return input_; }

 public slots:
  void append_line(const QString& text);

 signals:
  /// The script left `c` different from what it got.
  void circuit_changed(circuit::Circuit c);
  /// A run finished; `error` is empty on success (else the message with its traceback).
  void finished(QString error);
  /// The console wants the open circuit for a line the user typed.
  void line_entered(QString code);

 protected:
  bool eventFilter(QObject* o, QEvent* e) override;

 private:
  void append(const QString& text, bool error = false);
  void set_busy(bool on);

  QPlainTextEdit* out_ = nullptr;
  QLineEdit* input_ = nullptr;
  QPushButton* script_button_ = nullptr;
  QPushButton* stop_button_ = nullptr;
  void on_replies(const std::vector<protocol::Reply>& batch);
  void done(const QString& results, const QString& error, const std::optional<std::string>& circuit);

  EngineClient* engine_;
  int64_t id_ = 0;  // the running request
  bool busy_ = false;
  QStringList history_;
  int history_at_ = 0;
};

}  // namespace studio
