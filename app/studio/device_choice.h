// The device choice of the training dialog and the search dock: auto, cpu and every GPU, with
// CUDA greyed out and the reason in its tooltip when this machine or this LibTorch has none.
#pragma once
#include <string>

class QComboBox;

namespace studio {

/// A combo box of devices (`auto`, `cpu`, `cuda:N`), `current` selected when offered.
QComboBox* make_device_choice(const std::string& current);
/// The device a combo box made by make_device_choice names: `auto`, `cpu` or `cuda:N`.
std::string device_of(const QComboBox* box);

}  // namespace studio
