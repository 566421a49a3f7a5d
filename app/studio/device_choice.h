// The device choice of the training dialog and the search dock: auto, cpu and every GPU of the
// engine's machine (which may be another one: Run ▸ Run on…), with CUDA greyed out and the reason
// in its tooltip when that machine or its LibTorch has none.
#pragma once
#include <string>

#include "protocol/protocol.h"

class QComboBox;

namespace studio {

/// A combo box of devices (`auto`, `cpu`, `cuda:N`) as `engine` reports them (null: not known
/// yet, only auto and cpu), `current` selected when offered.
QComboBox* make_device_choice(const std::string& current, const protocol::Hello* engine);
/// Offers `engine`'s devices in a box made by make_device_choice, keeping its choice when offered.
void offer_devices(QComboBox* box, const protocol::Hello* engine);
/// The device a combo box made by make_device_choice names: `auto`, `cpu` or `cuda:N`.
std::string device_of(const QComboBox* box);

}  // namespace studio
