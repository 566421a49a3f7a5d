// Light and dark themes for the Qt shell. The canvas and the plots take the same flag, so every
// part of the window switches together.
#pragma once

class QApplication;

namespace studio {

/// Fusion style with a light or dark palette: the same look on every desktop.
void apply_theme(QApplication& app, bool dark);

}  // namespace studio
