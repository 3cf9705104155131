#include "widgets/theme.h"

#include <QApplication>
#include <QStyleFactory>

namespace perceptra::widgets {

namespace {
Theme g_theme = Theme::Dark;

void setAllGroups(QPalette& p, QPalette::ColorRole role, const QColor& c) {
  p.setColor(QPalette::Active, role, c);
  p.setColor(QPalette::Inactive, role, c);
  p.setColor(QPalette::Disabled, role, c);
}
}  // namespace

QPalette themePalette(Theme theme) {
  QPalette p;
  if (theme == Theme::Dark) {
    const QColor window(0x25, 0x27, 0x2b), base(0x1b, 0x1d, 0x21), alt(0x22, 0x25, 0x2a);
    const QColor text(0xe6, 0xe8, 0xeb), dim(0x86, 0x8b, 0x93), button(0x2f, 0x32, 0x38);
    setAllGroups(p, QPalette::Window, window);
    setAllGroups(p, QPalette::WindowText, text);
    setAllGroups(p, QPalette::Base, base);
    setAllGroups(p, QPalette::AlternateBase, alt);
    setAllGroups(p, QPalette::ToolTipBase, QColor(0x30, 0x33, 0x3a));
    setAllGroups(p, QPalette::ToolTipText, text);
    setAllGroups(p, QPalette::PlaceholderText, dim);
    setAllGroups(p, QPalette::Text, text);
    setAllGroups(p, QPalette::Button, button);
    setAllGroups(p, QPalette::ButtonText, text);
    setAllGroups(p, QPalette::BrightText, QColor(0xff, 0x6b, 0x6b));
    setAllGroups(p, QPalette::Light, QColor(0x3c, 0x40, 0x47));
    setAllGroups(p, QPalette::Midlight, QColor(0x34, 0x37, 0x3d));
    setAllGroups(p, QPalette::Mid, QColor(0x44, 0x48, 0x50));
    setAllGroups(p, QPalette::Dark, QColor(0x16, 0x17, 0x1a));
    setAllGroups(p, QPalette::Shadow, QColor(0x0c, 0x0d, 0x0f));
    setAllGroups(p, QPalette::Highlight, QColor(0x3d, 0x8b, 0xfd));
    setAllGroups(p, QPalette::HighlightedText, QColor(0xff, 0xff, 0xff));
    setAllGroups(p, QPalette::Link, QColor(0x6c, 0xb0, 0xff));
    setAllGroups(p, QPalette::LinkVisited, QColor(0xb3, 0x8c, 0xff));
    p.setColor(QPalette::Disabled, QPalette::WindowText, dim);
    p.setColor(QPalette::Disabled, QPalette::Text, dim);
    p.setColor(QPalette::Disabled, QPalette::ButtonText, dim);
    p.setColor(QPalette::Disabled, QPalette::Highlight, QColor(0x44, 0x48, 0x50));
  } else {
    const QColor window(0xf3, 0xf4, 0xf6), base(0xff, 0xff, 0xff), alt(0xf6, 0xf7, 0xf9);
    const QColor text(0x1f, 0x23, 0x28), dim(0x8a, 0x90, 0x99), button(0xfa, 0xfa, 0xfb);
    setAllGroups(p, QPalette::Window, window);
    setAllGroups(p, QPalette::WindowText, text);
    setAllGroups(p, QPalette::Base, base);
    setAllGroups(p, QPalette::AlternateBase, alt);
    setAllGroups(p, QPalette::ToolTipBase, QColor(0xff, 0xff, 0xff));
    setAllGroups(p, QPalette::ToolTipText, text);
    setAllGroups(p, QPalette::PlaceholderText, dim);
    setAllGroups(p, QPalette::Text, text);
    setAllGroups(p, QPalette::Button, button);
    setAllGroups(p, QPalette::ButtonText, text);
    setAllGroups(p, QPalette::BrightText, QColor(0xd0, 0x21, 0x21));
    setAllGroups(p, QPalette::Light, QColor(0xff, 0xff, 0xff));
    setAllGroups(p, QPalette::Midlight, QColor(0xe9, 0xeb, 0xee));
    setAllGroups(p, QPalette::Mid, QColor(0xc4, 0xc8, 0xce));
    setAllGroups(p, QPalette::Dark, QColor(0xa0, 0xa5, 0xad));
    setAllGroups(p, QPalette::Shadow, QColor(0x70, 0x74, 0x7a));
    setAllGroups(p, QPalette::Highlight, QColor(0x25, 0x6f, 0xde));
    setAllGroups(p, QPalette::HighlightedText, QColor(0xff, 0xff, 0xff));
    setAllGroups(p, QPalette::Link, QColor(0x1f, 0x5f, 0xc8));
    setAllGroups(p, QPalette::LinkVisited, QColor(0x6f, 0x3f, 0xc8));
    p.setColor(QPalette::Disabled, QPalette::WindowText, dim);
    p.setColor(QPalette::Disabled, QPalette::Text, dim);
    p.setColor(QPalette::Disabled, QPalette::ButtonText, dim);
  }
  return p;
}

QString themeStyleSheet(Theme theme) {
  const bool dark = theme == Theme::Dark;
  const QString border = dark ? "#3a3e45" : "#cfd3d9";
  const QString title = dark ? "#2c2f35" : "#e6e8ec";
  const QString tipBorder = dark ? "#4a4f58" : "#b9bec6";
  // Kept small on purpose: the palette does most of the work; the sheet only
  // fixes what Fusion draws poorly in a dark palette.
  return QString(
             "QToolTip { border: 1px solid %1; padding: 4px 6px; border-radius: 3px; }\n"
             "QDockWidget { titlebar-close-icon: none; }\n"
             "QDockWidget::title { background: %2; padding: 5px 8px; text-align: left; }\n"
             "QGroupBox { border: 1px solid %3; border-radius: 4px; margin-top: 1.2em; "
             "padding-top: 0.4em; }\n"
             "QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; }\n"
             "QTabWidget::pane { border: 1px solid %3; top: -1px; }\n"
             "QSplitter::handle { background: %3; }\n"
             "QSplitter::handle:horizontal { width: 1px; }\n"
             "QSplitter::handle:vertical { height: 1px; }\n")
      .arg(tipBorder, title, border);
}

void applyTheme(QApplication& app, Theme theme) {
  g_theme = theme;
  if (QStyle* fusion = QStyleFactory::create("Fusion")) app.setStyle(fusion);
  const QPalette palette = themePalette(theme);
  app.setPalette(palette);
  app.setStyleSheet(themeStyleSheet(theme));
}

Theme currentTheme() { return g_theme; }

QString themeName(Theme theme) { return theme == Theme::Light ? "light" : "dark"; }

Theme themeFromName(const QString& name) {
  return name.trimmed().compare("light", Qt::CaseInsensitive) == 0 ? Theme::Light : Theme::Dark;
}

bool isDarkPalette(const QPalette& palette) { return palette.color(QPalette::Window).lightness() < 128; }

QColor seriesColor(int index) {
  // Tableau-10 hues, slightly lifted so they stay readable on a dark base.
  static const QColor colors[] = {QColor(0x4e, 0x9b, 0xf0), QColor(0xf5, 0x8f, 0x3b), QColor(0x4c, 0xc2, 0x7a),
                                  QColor(0xe8, 0x5d, 0x63), QColor(0xa7, 0x85, 0xd9), QColor(0xc9, 0x8a, 0x6b),
                                  QColor(0xea, 0x7f, 0xc4), QColor(0x9a, 0xa1, 0xab), QColor(0xcc, 0xcc, 0x44),
                                  QColor(0x45, 0xc6, 0xd6)};
  const int n = int(sizeof(colors) / sizeof(colors[0]));
  return colors[((index % n) + n) % n];
}

QColor accentColor(const QPalette& palette) { return palette.color(QPalette::Highlight); }

}  // namespace perceptra::widgets
