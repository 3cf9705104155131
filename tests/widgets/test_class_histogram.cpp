#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <QSignalSpy>
#include <QTest>

#include "tests/widgets/qt_app.h"
#include "widgets/class_histogram.h"

using namespace perceptra::widgets;
using perceptra::widgets::test::app;

TEST(ClassHistogram, CountsGroupsAndClicks) {
  app();
  ClassHistogram hist;
  const QStringList classes = {"T-shirt", "Trouser", "Pullover", "Dress"};
  hist.setCounts(classes, {600, 580, 620, 10}, "train");
  EXPECT_EQ(hist.classCount(), 4);
  EXPECT_EQ(hist.groupCount(), 1);
  EXPECT_DOUBLE_EQ(hist.count(0, 3), 10);
  hist.addGroup("valid", {150, 145, 155});  // a missing count is 0
  EXPECT_EQ(hist.groupCount(), 2);
  EXPECT_DOUBLE_EQ(hist.count(1, 3), 0);
  EXPECT_DOUBLE_EQ(hist.count(5, 0), 0);  // out of range
  hist.resize(520, 300);
  hist.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&hist));
  hist.customPlot()->replot();
  QSignalSpy spy(&hist, &ClassHistogram::classClicked);
  const QPoint bar = hist.barPosition(0, 2);
  QTest::mouseClick(hist.customPlot(), Qt::LeftButton, {}, hist.customPlot()->mapFrom(&hist, bar));
  ASSERT_EQ(spy.count(), 1);
  EXPECT_EQ(spy.at(0).at(0).toInt(), 2);
  // Bars' tops reach their counts.
  EXPECT_GE(hist.customPlot()->yAxis->range().upper, 620);
  hist.setCounts(classes, {1, 2, 3, 4});
  EXPECT_EQ(hist.groupCount(), 1);
  hist.clear();
  EXPECT_EQ(hist.classCount(), 0);
}
