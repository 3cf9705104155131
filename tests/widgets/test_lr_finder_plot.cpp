#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <QSignalSpy>
#include <QTest>

#include <cmath>

#include "tests/widgets/qt_app.h"
#include "widgets/lr_finder_plot.h"

using namespace perceptra::widgets;
using perceptra::widgets::test::app;

namespace {
void sweep(std::vector<double>& lrs, std::vector<double>& losses) {
  for (int i = 0; i < 100; ++i) {
    const double lr = 1e-6 * std::pow(10.0, i * 6.0 / 99);  // 1e-6 .. 1
    lrs.push_back(lr);
    const double l = std::log10(lr);
    losses.push_back(2.3 - 1.5 / (1 + std::exp(-(l + 3.5) * 3)) + (l > -1 ? std::pow(10, (l + 1) * 3) : 0));
  }
}
}  // namespace

TEST(LrFinderPlot, LogAxisAndSuggestion) {
  app();
  LrFinderPlot plot;
  std::vector<double> lrs, losses;
  sweep(lrs, losses);
  lrs.push_back(-1.0);  // invalid pairs are dropped
  losses.push_back(1.0);
  plot.setData(lrs, losses);
  EXPECT_EQ(plot.pointCount(), 100);
  EXPECT_EQ(plot.customPlot()->xAxis->scaleType(), QCPAxis::stLogarithmic);
  plot.setSuggestion(3e-3);
  EXPECT_DOUBLE_EQ(plot.suggestion(), 3e-3);
  plot.setSuggestion(-1);
  EXPECT_DOUBLE_EQ(plot.suggestion(), 0.0);
  // The exploding tail (losses up to ~1000) is clipped: the view stays
  // around the valley, a little above the starting loss (2.3).
  EXPECT_LT(plot.customPlot()->yAxis->range().upper, 4.0);
  EXPECT_GT(plot.customPlot()->yAxis->range().upper, 2.3);
}

TEST(LrFinderPlot, ClickPicksNearestLearningRate) {
  app();
  LrFinderPlot plot;
  std::vector<double> lrs, losses;
  sweep(lrs, losses);
  plot.setData(lrs, losses);
  plot.resize(640, 400);
  plot.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&plot));
  plot.customPlot()->replot();
  QSignalSpy spy(&plot, &LrFinderPlot::lrPicked);
  const QPoint at = plot.pointPosition(60);
  QTest::mouseClick(plot.customPlot(), Qt::LeftButton, {}, plot.customPlot()->mapFrom(&plot, at));
  ASSERT_EQ(spy.count(), 1);
  EXPECT_DOUBLE_EQ(spy.at(0).at(0).toDouble(), lrs[60]);
  EXPECT_DOUBLE_EQ(plot.pickedLr(), lrs[60]);
}

TEST(LrFinderPlot, FormatsLearningRates) {
  EXPECT_EQ(LrFinderPlot::formatLr(3e-3), "3.0e-3");
  EXPECT_EQ(LrFinderPlot::formatLr(0.1), "1.0e-1");
  EXPECT_EQ(LrFinderPlot::formatLr(2.5), "2.5e0");
  EXPECT_EQ(LrFinderPlot::formatLr(0), "–");
}

// A suggestion near the right end of the sweep keeps its label inside the
// plot (it used to run off the edge: "suggested 1.4e").
TEST(LrFinderPlot, SuggestionLabelStaysInside) {
  app();
  LrFinderPlot plot;
  std::vector<double> lrs, losses;
  sweep(lrs, losses);
  plot.setData(lrs, losses);
  plot.resize(360, 260);
  plot.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&plot));
  for (double s : {2e-6, 3e-3, 0.5}) {
    plot.setSuggestion(s);
    plot.customPlot()->replot();
    const QRect r = plot.suggestionLabelRect();
    ASSERT_FALSE(r.isEmpty()) << s;
    EXPECT_GE(r.left(), 0) << s;
    EXPECT_LE(r.right(), plot.width()) << s;
    // Beside the line: touching its x position.
    const int lineX = plot.customPlot()->mapTo(&plot, QPoint(int(plot.customPlot()->xAxis->coordToPixel(s)), 0)).x();
    EXPECT_LE(std::abs(std::min(std::abs(r.left() - lineX), std::abs(r.right() - lineX))), 2) << s;
  }
}
