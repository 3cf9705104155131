#include "tests/widgets/qt_app.h"

#include <QApplication>
#include <QTest>

#include "widgets/theme.h"

namespace perceptra::widgets::test {

QApplication& app() {
  static QApplication* instance = [] {
    if (qgetenv("QT_QPA_PLATFORM").isEmpty()) qputenv("QT_QPA_PLATFORM", "offscreen");
    static int argc = 1;
    static char name[] = "test_widgets";
    static char* argv[] = {name, nullptr};
    auto* a = new QApplication(argc, argv);
    applyTheme(*a, Theme::Dark);
    return a;
  }();
  return *instance;
}

void spin(int ms) { QTest::qWait(ms); }

}  // namespace perceptra::widgets::test
