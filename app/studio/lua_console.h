// The Lua console dock: run a line or a script file against the open circuit. The circuit is
// the global `c` (a copy); when the script changes it, the change comes back to the editor as one
// undoable edit. Scripts run on a worker thread so a long one (training from Lua) leaves the GUI
// responsive and can be stopped; `print` goes to the console.
#pragma once
#include <QWidget>
#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "circuit/graph.h"

class QLineEdit;
class QPlainTextEdit;
class QPushButton;

namespace script {
class Host;
}

namespace studio {

/// The console dock: output, an input line with history, Run script…, Stop.
class LuaConsole : public QWidget {
  Q_OBJECT
 public:
  explicit LuaConsole(QWidget* parent = nullptr);
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
  std::unique_ptr<script::Host> host_;
  std::thread worker_;
  bool busy_ = false;
  QStringList history_;
  int history_at_ = 0;
};

}  // namespace studio
