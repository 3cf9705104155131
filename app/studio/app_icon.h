#pragma once
// The application icon drawn with QPainter (the same picture as
// resources/icons/perceptra.svg, which needs Qt's SVG plugin to load).
#include <QIcon>

namespace perceptra::studio {
QIcon appIcon();
}
