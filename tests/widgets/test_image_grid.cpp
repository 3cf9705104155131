#include <gtest/gtest.h>

#include <QApplication>
#include <QListView>
#include <QSignalSpy>
#include <QTest>
#include <QWheelEvent>

#include "tests/widgets/qt_app.h"
#include "widgets/image_grid.h"

using namespace perceptra::widgets;
using perceptra::widgets::test::app;

namespace {
std::vector<ImageGridItem> makeItems(int n) {
  std::vector<ImageGridItem> items;
  for (int i = 0; i < n; ++i) {
    QImage img(28, 28, QImage::Format_Grayscale8);
    img.fill(i % 256);
    items.push_back({img,
                     QStringLiteral("true: Coat\npred: Shirt %1").arg(i),
                     i % 3 ? QColor() : QColor(Qt::red),
                     {},
                     QVariant(i * 10)});
  }
  return items;
}
}  // namespace

TEST(ImageGrid, ClickEmitsIndexAndSelects) {
  app();
  ImageGrid grid;
  grid.setItems(makeItems(300));
  grid.resize(640, 480);
  grid.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&grid));
  EXPECT_EQ(grid.count(), 300);
  QSignalSpy clicked(&grid, &ImageGrid::itemClicked);
  QSignalSpy current(&grid, &ImageGrid::currentIndexChanged);
  const QRect r = grid.itemRect(7);
  ASSERT_FALSE(r.isEmpty());
  QWidget* vp = grid.view()->viewport();
  QTest::mouseClick(vp, Qt::LeftButton, {}, vp->mapFrom(&grid, r.center()));
  ASSERT_EQ(clicked.count(), 1);
  EXPECT_EQ(clicked.at(0).at(0).toInt(), 7);
  EXPECT_EQ(grid.selectedIndex(), 7);
  EXPECT_EQ(current.count(), 1);
  EXPECT_EQ(grid.item(7).data.toInt(), 70);
  EXPECT_EQ(grid.model()->data(grid.model()->index(7), ImageGridModel::PayloadRole).toInt(), 70);
}

TEST(ImageGrid, LaysOutInRowsAndScalesThumbnails) {
  app();
  ImageGrid grid;
  grid.setItems(makeItems(40));
  grid.resize(640, 480);
  grid.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&grid));
  const QRect a = grid.itemRect(0), b = grid.itemRect(1);
  EXPECT_EQ(a.top(), b.top());  // same row
  EXPECT_GT(b.left(), a.right() - 1);
  const int w0 = a.width();
  QSignalSpy spy(&grid, &ImageGrid::thumbnailSizeChanged);
  grid.setThumbnailSize(160);
  QApplication::processEvents();
  EXPECT_EQ(spy.count(), 1);
  EXPECT_GT(grid.itemRect(0).width(), w0);
  grid.setThumbnailSize(5000);
  EXPECT_EQ(grid.thumbnailSize(), 320);  // clamped
  // Ctrl+wheel on the viewport scales too.
  grid.setThumbnailSize(100);
  QWidget* vp = grid.view()->viewport();
  QWheelEvent wheel(QPointF(50, 50), vp->mapToGlobal(QPointF(50, 50)), QPoint(), QPoint(0, 120), Qt::NoButton,
                    Qt::ControlModifier, Qt::NoScrollPhase, false);
  QApplication::sendEvent(vp, &wheel);
  EXPECT_GT(grid.thumbnailSize(), 100);
}

TEST(ImageGrid, SelectionApiAndUpdates) {
  app();
  ImageGrid grid;
  grid.setItems(makeItems(10));
  QSignalSpy clicked(&grid, &ImageGrid::itemClicked);
  grid.setSelectedIndex(4);
  EXPECT_EQ(grid.selectedIndex(), 4);
  EXPECT_EQ(grid.selectedIndexes(), std::vector<int>{4});
  EXPECT_EQ(clicked.count(), 0);  // programmatic selection is not a click
  grid.appendItem(makeItems(1).front());
  EXPECT_EQ(grid.count(), 11);
  ImageGridItem changed = grid.item(2);
  changed.caption = "updated";
  grid.updateItem(2, changed);
  EXPECT_EQ(grid.item(2).caption, "updated");
  grid.clear();
  EXPECT_EQ(grid.count(), 0);
  EXPECT_EQ(grid.selectedIndex(), -1);
}

TEST(ImageGrid, SelectedItemIsHighlighted) {
  app();
  ImageGrid grid;
  grid.setItems(makeItems(20));
  grid.resize(640, 480);
  grid.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&grid));
  QWidget* vp = grid.view()->viewport();
  const QRect r = grid.itemRect(3);
  // A point inside the cell but outside the thumbnail: only the selection paints it.
  const QPoint probe = vp->mapFrom(&grid, QPoint(r.left() + 3, r.top() + r.height() / 2));
  const QColor before = vp->grab().toImage().pixelColor(probe * vp->devicePixelRatio());
  grid.setSelectedIndex(3);
  QApplication::processEvents();
  const QColor after = vp->grab().toImage().pixelColor(probe * vp->devicePixelRatio());
  EXPECT_NE(before, after);
  // Selected before the grid is shown (as the studio does after a filter): still painted.
  ImageGrid early;
  early.setItems(makeItems(20));
  early.setSelectedIndex(3);
  early.resize(640, 480);
  early.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&early));
  QWidget* evp = early.view()->viewport();
  EXPECT_EQ(early.selectedIndex(), 3);
  EXPECT_EQ(evp->grab().toImage().pixelColor(probe * evp->devicePixelRatio()), after);
}

// Cells are as wide as the captions need: short class names pack more
// thumbnails per row than long captions, which are capped (and elided).
TEST(ImageGrid, CellWidthFollowsCaptions) {
  app();
  ImageGrid grid;
  grid.setThumbnailSize(40);
  grid.setCaptionLines(1);
  auto items = [](const QString& caption) {
    std::vector<ImageGridItem> v;
    for (int i = 0; i < 12; ++i) {
      QImage img(28, 28, QImage::Format_Grayscale8);
      img.fill(i * 20);
      v.push_back({img, caption, {}, {}, {}});
    }
    return v;
  };
  grid.resize(400, 300);
  grid.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&grid));
  grid.setItems(items(QStringLiteral("ring")));
  QApplication::processEvents();
  const int shortW = grid.itemRect(0).width();
  grid.setItems(items(QStringLiteral("a much longer caption than any class name")));
  QApplication::processEvents();
  const int longW = grid.itemRect(0).width();
  EXPECT_GT(longW, shortW);
  EXPECT_LE(longW, 150 + 20);  // capped
  EXPECT_GE(shortW, 40);       // never narrower than the thumbnail
  // Appending a wider caption widens every cell.
  grid.setItems(items(QStringLiteral("ring")));
  grid.appendItem({QImage(), QStringLiteral("Ankle boot, long"), {}, {}, {}});
  QApplication::processEvents();
  EXPECT_GT(grid.itemRect(0).width(), shortW);
  grid.clear();
  EXPECT_EQ(grid.count(), 0);
}
