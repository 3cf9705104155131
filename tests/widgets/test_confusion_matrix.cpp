#include <gtest/gtest.h>

#include <QSignalSpy>
#include <QTest>

#include "tests/widgets/qt_app.h"
#include "widgets/confusion_matrix_view.h"
#include "widgets/theme.h"

using namespace perceptra::widgets;
using perceptra::widgets::test::app;

namespace {
// 3 classes: rows true, columns predicted.
const std::vector<std::int64_t> kCounts = {50, 3,  7,   //
                                           0,  40, 10,  //
                                           5,  15, 30};
}  // namespace

TEST(ConfusionMatrixView, ClickEmitsTrueAndPredicted) {
  app();
  ConfusionMatrixView view;
  view.setCounts(kCounts, 3);
  view.setClassNames({"T-shirt", "Trouser", "Pullover"});
  view.resize(480, 420);
  view.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&view));
  QSignalSpy spy(&view, &ConfusionMatrixView::cellClicked);
  for (int t = 0; t < 3; ++t)
    for (int p = 0; p < 3; ++p) {
      const QRect r = view.cellRect(t, p);
      ASSERT_FALSE(r.isEmpty());
      QTest::mouseClick(&view, Qt::LeftButton, {}, r.center());
      ASSERT_EQ(spy.count(), 1);
      EXPECT_EQ(spy.at(0).at(0).toInt(), t);
      EXPECT_EQ(spy.at(0).at(1).toInt(), p);
      EXPECT_EQ(view.selectedTrue(), t);
      EXPECT_EQ(view.selectedPredicted(), p);
      spy.clear();
    }
  // A click outside the cells clears the selection.
  QSignalSpy cleared(&view, &ConfusionMatrixView::selectionCleared);
  QTest::mouseClick(&view, Qt::LeftButton, {}, QPoint(2, 2));
  EXPECT_EQ(spy.count(), 0);
  EXPECT_EQ(cleared.count(), 1);
  EXPECT_EQ(view.selectedTrue(), -1);
}

TEST(ConfusionMatrixView, SelectedCellIsHighlighted) {
  app();
  ConfusionMatrixView view;
  view.setCounts(kCounts, 3);
  view.resize(480, 420);
  view.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&view));
  const QRect r = view.cellRect(2, 1);
  const QImage before = view.grab().toImage();
  view.setSelectedCell(2, 1);
  const QImage after = view.grab().toImage();
  const qreal dpr = after.devicePixelRatio();
  // The outline is drawn on the cell's edge; the cell centre (its text) is unchanged.
  const QPoint edge = QPoint(r.center().x(), r.top() + 1) * dpr;
  EXPECT_NE(before.pixel(edge), after.pixel(edge));
  const QColor outline = after.pixelColor(edge);
  const QColor accent = accentColor(view.palette());
  EXPECT_GT(outline.blue(), outline.red());  // the (blue) accent, not the cell's colour
  EXPECT_GT(accent.blue(), accent.red());
}

TEST(ConfusionMatrixView, NormalisationToggle) {
  app();
  ConfusionMatrixView view;
  view.setCounts(kCounts, 3);
  QSignalSpy spy(&view, &ConfusionMatrixView::normalizedChanged);
  EXPECT_DOUBLE_EQ(view.displayedValue(1, 2), 10.0);
  EXPECT_DOUBLE_EQ(view.total(), 160.0);
  EXPECT_DOUBLE_EQ(view.accuracy(), 120.0 / 160.0);
  view.setNormalized(true);
  EXPECT_EQ(spy.count(), 1);
  EXPECT_TRUE(view.normalized());
  EXPECT_DOUBLE_EQ(view.displayedValue(1, 2), 10.0 / 50.0);
  for (int t = 0; t < 3; ++t) {
    double row = 0;
    for (int p = 0; p < 3; ++p) row += view.displayedValue(t, p);
    EXPECT_NEAR(row, 1.0, 1e-12);
  }
  EXPECT_DOUBLE_EQ(view.count(1, 2), 10.0);  // counts unchanged
  view.setNormalized(true);                  // no change, no signal
  EXPECT_EQ(spy.count(), 1);
  view.setNormalized(false);
  EXPECT_EQ(spy.count(), 2);
  EXPECT_DOUBLE_EQ(view.displayedValue(1, 2), 10.0);
}

TEST(ConfusionMatrixView, EmptyRowsAndBadInput) {
  app();
  ConfusionMatrixView view;
  view.setCounts(std::vector<double>{0, 0, 3, 1}, 2);
  view.setNormalized(true);
  EXPECT_DOUBLE_EQ(view.displayedValue(0, 0), 0.0);  // empty row: no division by zero
  EXPECT_DOUBLE_EQ(view.displayedValue(1, 0), 0.75);
  view.setSelectedCell(1, 1);
  view.setCounts(std::vector<double>{1, 2, 3}, 2);  // wrong size clears the view
  EXPECT_EQ(view.classCount(), 0);
  EXPECT_EQ(view.selectedTrue(), -1);
  EXPECT_TRUE(view.cellRect(0, 0).isEmpty());
}

TEST(ConfusionMatrixView, CsvExport) {
  app();
  ConfusionMatrixView view;
  view.setCounts(kCounts, 3);
  view.setClassNames({"a", "b,c"});  // third name missing -> index
  const QStringList lines = view.toCsv().split('\n', Qt::SkipEmptyParts);
  ASSERT_EQ(lines.size(), 4);
  EXPECT_EQ(lines[0], "true\\predicted,a,\"b,c\",2");
  EXPECT_EQ(lines[2], "\"b,c\",0,40,10");
}
