#include <gtest/gtest.h>

#include <QTest>

#include "tests/widgets/qt_app.h"
#include "widgets/probability_bars.h"

using namespace perceptra::widgets;
using perceptra::widgets::test::app;

TEST(ProbabilityBars, TopKOrderAndTrueClassKeptVisible) {
  app();
  ProbabilityBars bars;
  std::vector<float> p = {0.01f, 0.05f, 0.6f, 0.02f, 0.2f, 0.03f, 0.04f, 0.01f, 0.02f, 0.02f};
  bars.setProbabilities(
      p, {"T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"});
  EXPECT_EQ(bars.predictedClass(), 2);
  bars.setTopK(3);
  EXPECT_EQ(bars.topClasses(), (std::vector<int>{2, 4, 1}));
  bars.setMaxRows(4);
  bars.setTrueClass(7);  // ranks near the bottom: still shown, in the last row
  const std::vector<int> rows = bars.rowOrder();
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], 2);
  EXPECT_EQ(rows[3], 7);
  bars.setSorted(false);
  bars.setMaxRows(0);
  EXPECT_EQ(bars.rowOrder().size(), 10u);
  EXPECT_EQ(bars.rowOrder()[0], 0);
  // Renders something other than the background where the top bar is.
  bars.resize(360, bars.sizeHint().height());
  bars.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&bars));
  const QImage img = bars.grab().toImage();
  const QColor bg = bars.palette().color(QPalette::Base);
  int colored = 0;
  for (int y = 0; y < img.height(); ++y)
    for (int x = img.width() / 2; x < img.width() * 3 / 4; ++x)
      if (img.pixelColor(x, y) != bg) ++colored;
  EXPECT_GT(colored, 50);
  bars.clear();
  EXPECT_EQ(bars.predictedClass(), -1);
}

// In a narrow dock the bars shrink before the names do: "Ankle boot" is shown
// whole at 240 px (it used to be cut to "Ankle …" by a third-of-width cap).
TEST(ProbabilityBars, NarrowWidgetKeepsWholeClassNames) {
  app();
  ProbabilityBars bars;
  const QStringList names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  std::vector<float> p(10, 0.02f);
  p[9] = 0.7f;
  p[0] = 0.12f;
  bars.setProbabilities(p, names);
  bars.setTrueClass(0);
  QFont bold = bars.font();
  bold.setBold(true);
  const int longest = QFontMetrics(bold).horizontalAdvance(QStringLiteral("T-shirt/top"));
  bars.resize(240, bars.sizeHint().height());
  EXPECT_GE(bars.nameColumnWidth() - 14, longest);
  EXPECT_LE(bars.minimumSizeHint().width(), 240);
  EXPECT_GE(bars.minimumSizeHint().width(), longest + 40);
  // Far too narrow: names get what is left, never a negative width.
  bars.resize(60, 100);
  EXPECT_GT(bars.nameColumnWidth(), 0);
  EXPECT_LT(bars.nameColumnWidth(), longest);
}
