// Run ▸ Train: the dialog and the settings it remembers. Its training fields come from the
// training option table (engine/options.h), one widget per row, so an option added there appears
// here (and in QSettings) without an edit to the studio.
#pragma once
#include <QStringList>
#include <string>

#include "engine/train.h"
#include "protocol/protocol.h"

class QSettings;
class QWidget;

namespace studio {

/// What the Train dialog asks and remembers between runs.
struct RunSettings {
  std::string data = "fashion-mnist";
  engine::TrainOptions train;  // the table's options and the seed
  int64_t train_limit = 0;     // 0: the whole training split
  std::string device = "auto";
};

/// Reads the settings saved by save_run_settings (absent or malformed keys keep the defaults).
RunSettings load_run_settings(const QSettings& s);
void save_run_settings(QSettings& s, const RunSettings& r);

/// Shows the dialog for `title` with `current` filled in and `data_sets` offered; true and `out`
/// filled when the user chose Train.
bool ask_run_settings(QWidget* parent, const QString& title, const RunSettings& current, const QStringList& data_sets, RunSettings& out,
                      const protocol::Hello* engine = nullptr);

}  // namespace studio
