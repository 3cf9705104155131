#include <gtest/gtest.h>

#include <QSignalSpy>
#include <QTest>

#include "tests/widgets/qt_app.h"
#include "widgets/activation_view.h"
#include "widgets/colormap.h"

using namespace perceptra::widgets;
using perceptra::widgets::test::app;

namespace {
std::vector<ActivationEntry> makeEntries(float shift) {
  std::vector<ActivationEntry> entries;
  const int channels[] = {8, 16, 4};
  const int size[] = {28, 14, 7};
  for (int l = 0; l < 3; ++l) {
    std::vector<float> data(std::size_t(channels[l] * size[l] * size[l]));
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = float((i * 7 + l) % 23) + shift;
    entries.push_back({QStringLiteral("layer %1").arg(l), QStringLiteral("%1 × %2 × %2").arg(channels[l]).arg(size[l]),
                       tilePlanes(data.data(), channels[l], size[l], size[l])});
  }
  return entries;
}
}  // namespace

TEST(ActivationView, StacksEntriesAndUpdatesInPlace) {
  app();
  ActivationView view;
  view.resize(360, 500);
  view.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&view));
  view.setEntries(makeEntries(0));
  ASSERT_EQ(view.entryCount(), 3);
  for (int i = 1; i < 3; ++i) EXPECT_GT(view.entryRect(i).top(), view.entryRect(i - 1).bottom());
  QWidget* canvas = view.canvas();
  const QRect r1 = view.entryRect(1);
  view.setEntries(makeEntries(1));  // same sizes: no relayout, same canvas
  EXPECT_EQ(view.canvas(), canvas);
  EXPECT_EQ(view.entryRect(1), r1);
  EXPECT_EQ(view.entry(0).name, "layer 0");
  // The canvas grows with the content, so the column scrolls.
  EXPECT_GE(canvas->height(), view.entryRect(2).bottom());
  // A different image size relays out that entry.
  QImage big(200, 120, QImage::Format_RGB32);
  big.fill(Qt::red);
  view.updateEntry(2, big, "new");
  EXPECT_EQ(view.entry(2).detail, "new");
  EXPECT_GT(view.entryRect(2).height(), 120);
  // Rendered: the red image is visible inside the third card.
  const QImage shot = canvas->grab().toImage();
  const QPoint c = view.entryRect(2).center() * shot.devicePixelRatio();
  const QColor px = shot.pixelColor(c.x(), c.y() + 8);
  EXPECT_GT(px.red(), 200);
  EXPECT_LT(px.green(), 50);
}

TEST(ActivationView, ClickEmitsEntry) {
  app();
  ActivationView view;
  view.resize(360, 600);
  view.setEntries(makeEntries(0));
  view.show();
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&view));
  QSignalSpy spy(&view, &ActivationView::entryClicked);
  QTest::mouseClick(view.canvas(), Qt::LeftButton, {}, view.entryRect(1).center());
  ASSERT_EQ(spy.count(), 1);
  EXPECT_EQ(spy.at(0).at(0).toInt(), 1);
  view.clear();
  EXPECT_EQ(view.entryCount(), 0);
}
