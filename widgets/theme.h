#pragma once
// Dark and light application themes (Fusion style + palette + a small style
// sheet), switchable at runtime. Widgets in this library take their colours
// from the palette and restyle on QEvent::PaletteChange, so switching the
// theme restyles plots too.
#include <QColor>
#include <QPalette>
#include <QString>

class QApplication;

namespace perceptra::widgets {

enum class Theme { Dark, Light };

// Palette of the given theme (Fusion-friendly, WCAG-readable text).
QPalette themePalette(Theme theme);
// Small style sheet for the given theme (tool tips, dock titles, tabs, group boxes).
QString themeStyleSheet(Theme theme);
// Applies style "Fusion", the palette and style sheet to the application.
// Safe to call again at runtime to switch themes.
void applyTheme(QApplication& app, Theme theme);
// Theme last applied with applyTheme (Dark before any call).
Theme currentTheme();
// "dark"/"light" <-> Theme, for QSettings. Unknown names give Dark.
QString themeName(Theme theme);
Theme themeFromName(const QString& name);

// True when the palette's window colour is dark (widgets use it to pick
// contrasting colours without knowing which theme is active).
bool isDarkPalette(const QPalette& palette);

// Categorical colours for plot series, readable on both dark and light
// backgrounds; index wraps around.
QColor seriesColor(int index);
// Accent colour used for highlights and selections.
QColor accentColor(const QPalette& palette);

}  // namespace perceptra::widgets
