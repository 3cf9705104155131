#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <QApplication>
#include <QTest>

#include "tests/widgets/qt_app.h"
#include "widgets/theme.h"
#include "widgets/training_plot.h"

using namespace perceptra::widgets;
using perceptra::widgets::test::app;

TEST(Theme, SwitchesAtRuntimeAndPlotsFollow) {
  QApplication& a = app();
  applyTheme(a, Theme::Dark);
  TrainingPlot plot;
  plot.applyPreset(TrainingPlot::Preset::Loss);
  plot.resize(400, 300);
  plot.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&plot));
  plot.refreshNow();
  auto corner = [&] {
    const QImage img = plot.customPlot()->toPixmap(200, 150).toImage();
    return img.pixelColor(2, img.height() - 2);
  };
  EXPECT_TRUE(isDarkPalette(QApplication::palette()));
  EXPECT_LT(corner().lightness(), 80);
  applyTheme(a, Theme::Light);
  QApplication::processEvents();
  EXPECT_EQ(currentTheme(), Theme::Light);
  EXPECT_FALSE(isDarkPalette(QApplication::palette()));
  EXPECT_GT(corner().lightness(), 200);
  applyTheme(a, Theme::Dark);
  QApplication::processEvents();
  EXPECT_LT(corner().lightness(), 80);
}

TEST(Theme, NamesRoundTrip) {
  EXPECT_EQ(themeFromName(themeName(Theme::Light)), Theme::Light);
  EXPECT_EQ(themeFromName(themeName(Theme::Dark)), Theme::Dark);
  EXPECT_EQ(themeFromName(" LIGHT "), Theme::Light);
  EXPECT_EQ(themeFromName("nonsense"), Theme::Dark);
  EXPECT_NE(seriesColor(0), seriesColor(1));
  EXPECT_EQ(seriesColor(10), seriesColor(0));
  EXPECT_EQ(seriesColor(-1), seriesColor(9));
}
