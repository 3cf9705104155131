#pragma once
// The application icon drawn with QPainter (the same picture as
// resources/icons/perceptra.svg, which needs Qt's SVG plugin to load).
#include <QIcon>

namespace perceptra::studio {
QIcon appIcon();
// Flat coloured media icons readable on dark and light themes (the Fusion
// style's standard ones are black).
enum class MediaIcon { Play, Pause, Stop };
QIcon mediaIcon(MediaIcon kind);
}  // namespace perceptra::studio
