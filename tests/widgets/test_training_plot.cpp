#include <gtest/gtest.h>
#include <qcustomplot.h>

#include <QElapsedTimer>
#include <QFile>
#include <QImage>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstdio>

#include "tests/widgets/qt_app.h"
#include "widgets/theme.h"
#include "widgets/training_plot.h"

using namespace perceptra::widgets;
using perceptra::widgets::test::app;
using perceptra::widgets::test::spin;

namespace {
double fakeLoss(int i) { return 2.3 * std::exp(-i / 8000.0) + 0.15 + 0.05 * std::sin(i * 0.37); }
}  // namespace

TEST(TrainingPlot, DecimatesToBoundedPointCount) {
  app();
  TrainingPlot plot;
  plot.applyPreset(TrainingPlot::Preset::Loss);
  plot.setMaxDrawnPoints(3000);
  plot.resize(600, 400);
  plot.show();
  for (int i = 0; i < 50000; ++i) plot.append(TrainingPlot::kTrainLoss, i / 500.0, fakeLoss(i));
  for (int e = 1; e <= 100; ++e) plot.append(TrainingPlot::kValidLoss, e, fakeLoss(e * 500) - 0.05);
  QElapsedTimer clock;
  clock.start();
  plot.refreshNow();
  // Reported, not asserted (timings are noisy here): one refresh = decimate + replot.
  std::printf("refresh with 50,000 points: %.1f ms\n", clock.nsecsElapsed() / 1e6);
  plot.append(TrainingPlot::kTrainLoss, 100.0, 0.2);
  clock.restart();
  plot.refreshNow();
  std::printf("second refresh (one point appended): %.1f ms\n", clock.nsecsElapsed() / 1e6);
  EXPECT_EQ(plot.pointCount(TrainingPlot::kTrainLoss), 50001);
  EXPECT_LE(plot.drawnPointCount(TrainingPlot::kTrainLoss), 3000);
  EXPECT_GT(plot.drawnPointCount(TrainingPlot::kTrainLoss), 1000);
  EXPECT_EQ(plot.drawnPointCount(TrainingPlot::kValidLoss), 100);  // few points: all drawn
  // Raw + smoothed train curves + valid markers, each bounded.
  EXPECT_LE(plot.totalDrawnPointCount(), 3000 * 2 + 100);
  // Automatic bound: two points per pixel column of the plot area.
  plot.setMaxDrawnPoints(0);
  plot.append(TrainingPlot::kTrainLoss, 100.01, 0.2);
  clock.restart();
  plot.refreshNow();
  std::printf("refresh with automatic bound (%d px wide): %.1f ms\n", plot.customPlot()->axisRect()->width(),
              clock.nsecsElapsed() / 1e6);
  EXPECT_LE(plot.drawnPointCount(TrainingPlot::kTrainLoss), std::max(400, 2 * plot.customPlot()->axisRect()->width()));
  EXPECT_GT(plot.drawnPointCount(TrainingPlot::kTrainLoss), 300);
  // The decimated raw curve still shows the highest loss (min/max keeps spikes).
  QCPGraph* raw = plot.customPlot()->graph(0);
  double maxDrawn = -1;
  for (auto it = raw->data()->constBegin(); it != raw->data()->constEnd(); ++it)
    maxDrawn = std::max(maxDrawn, it->value);
  double maxRaw = -1;
  for (double v : plot.seriesY(TrainingPlot::kTrainLoss)) maxRaw = std::max(maxRaw, v);
  EXPECT_DOUBLE_EQ(maxDrawn, maxRaw);
}

TEST(TrainingPlot, ZoomRedecimatesVisibleRangeAndResetFollows) {
  app();
  TrainingPlot plot;
  plot.setMaxDrawnPoints(1000);
  plot.resize(600, 400);
  plot.show();
  for (int i = 0; i < 20000; ++i) plot.append("loss", i, fakeLoss(i));
  plot.refreshNow();
  ASSERT_TRUE(plot.followsData());
  QSignalSpy view(&plot, &TrainingPlot::viewChanged);
  // What a wheel zoom does: change the x range.
  plot.customPlot()->xAxis->setRange(10000, 10400);
  EXPECT_FALSE(plot.followsData());
  EXPECT_EQ(view.count(), 1);
  plot.refreshNow();
  // Zoomed to 400 points (+ one view width margin each side = 1200 points):
  // the drawn data comes from that window only.
  QCPGraph* g = plot.customPlot()->graph(0);
  ASSERT_GT(g->dataCount(), 0);
  EXPECT_GE(g->data()->constBegin()->key, 10000 - 400 - 1);
  EXPECT_LE((g->data()->constEnd() - 1)->key, 10400 + 400 + 1);
  EXPECT_LE(g->dataCount(), 1000);
  plot.resetView();
  plot.refreshNow();
  EXPECT_TRUE(plot.followsData());
  EXPECT_LE(plot.customPlot()->xAxis->range().lower, 0.0);
  EXPECT_GE(plot.customPlot()->xAxis->range().upper, 19999.0);
}

TEST(TrainingPlot, RefreshRateIsBounded) {
  app();
  TrainingPlot plot;
  plot.applyPreset(TrainingPlot::Preset::Loss);
  plot.setRefreshInterval(100);  // 10 Hz
  plot.resize(600, 400);
  plot.show();
  spin(150);
  const int before = plot.replotCount();
  // 50,000 points arriving over ~1.5 s in small batches, as a fast trainer would.
  QElapsedTimer clock;
  clock.start();
  int i = 0;
  while (i < 50000) {
    for (int k = 0; k < 500 && i < 50000; ++k, ++i) plot.append(TrainingPlot::kTrainLoss, i / 500.0, fakeLoss(i));
    QTest::qWait(15);
  }
  spin(300);
  const double seconds = clock.elapsed() / 1000.0;
  const int replots = plot.replotCount() - before;
  EXPECT_GT(replots, 0);
  // At 10 Hz: about seconds*10 replots; allow a little slack, never one per append.
  EXPECT_LE(replots, int(seconds * 10) + 3) << "seconds " << seconds;
  // Idle: no more replots once everything is drawn.
  const int idle = plot.replotCount();
  spin(400);
  EXPECT_EQ(plot.replotCount(), idle);
}

TEST(TrainingPlot, CsvExportContent) {
  app();
  TrainingPlot plot;
  SeriesStyle smooth;
  smooth.smoothing = 0.5;
  plot.addSeries("train loss", smooth);
  plot.addSeries("valid, loss");  // a name that needs quoting
  plot.append("train loss", 0.5, 2.0);
  plot.append("train loss", 1.0, 1.0);
  plot.append("valid, loss", 1.0, 1.5);
  const QString csv = plot.toCsv();
  const QStringList lines = csv.split('\n', Qt::SkipEmptyParts);
  ASSERT_EQ(lines.size(), 4);
  EXPECT_EQ(lines[0], "series,x,y,smoothed");
  EXPECT_EQ(lines[1], "train loss,0.5,2,2");  // debiased EMA starts at the first value
  // Weight 0.5: biased EMA 1.0 after step 1 (debias 0.5 -> 2.0); step 2:
  // 0.5*1.0 + 0.5*1 = 1.0, debias 1 - 0.25 = 0.75 -> 1.333333333.
  EXPECT_EQ(lines[2], "train loss,1,1,1.333333333");
  EXPECT_EQ(lines[3], "\"valid, loss\",1,1.5,");
  QTemporaryDir dir;
  const QString path = dir.filePath("plot.csv");
  ASSERT_TRUE(plot.exportCsv(path));
  QFile f(path);
  ASSERT_TRUE(f.open(QIODevice::ReadOnly | QIODevice::Text));
  EXPECT_EQ(QString::fromUtf8(f.readAll()), csv);
  EXPECT_FALSE(plot.exportCsv(dir.filePath("missing/dir/plot.csv")));
}

TEST(TrainingPlot, PngExportWritesNonEmptyImage) {
  app();
  TrainingPlot plot;
  plot.applyPreset(TrainingPlot::Preset::Loss);
  for (int i = 0; i < 2000; ++i) plot.append(TrainingPlot::kTrainLoss, i / 100.0, fakeLoss(i * 20));
  QTemporaryDir dir;
  const QString path = dir.filePath("plot.png");
  ASSERT_TRUE(plot.exportPng(path, 640, 400));  // works while hidden too
  QImage img(path);
  ASSERT_FALSE(img.isNull());
  EXPECT_GE(img.width(), 640);  // written at 2x for crisp slides
  EXPECT_GE(img.height(), 400);
  // Not a blank image: the curve's colour appears somewhere.
  const QColor curve = seriesColor(0);
  int hits = 0;
  for (int y = 0; y < img.height(); y += 2)
    for (int x = 0; x < img.width(); x += 2) {
      const QColor c = img.pixelColor(x, y);
      if (std::abs(c.red() - curve.red()) < 12 && std::abs(c.green() - curve.green()) < 12 &&
          std::abs(c.blue() - curve.blue()) < 12)
        ++hits;
    }
  EXPECT_GT(hits, 50);
}

TEST(TrainingPlot, LogYSkipsNonPositiveValues) {
  app();
  TrainingPlot plot;
  QSignalSpy spy(&plot, &TrainingPlot::logYChanged);
  plot.append("lr", 0, 0.0);
  plot.append("lr", 1, 1e-3);
  plot.append("lr", 2, 1e-1);
  plot.setLogY(true);
  EXPECT_EQ(spy.count(), 1);
  plot.refreshNow();
  EXPECT_EQ(plot.customPlot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
  EXPECT_EQ(plot.drawnPointCount("lr"), 2);
  EXPECT_GT(plot.customPlot()->yAxis->range().lower, 0.0);
  plot.setLogY(false);
  plot.refreshNow();
  EXPECT_EQ(plot.drawnPointCount("lr"), 3);
}

TEST(TrainingPlot, SeriesManagementAndOverlay) {
  app();
  TrainingPlot plot;
  plot.applyPreset(TrainingPlot::Preset::Schedule);
  EXPECT_EQ(plot.seriesNames(), (QStringList{TrainingPlot::kLearningRate, TrainingPlot::kMomentum}));
  EXPECT_TRUE(plot.customPlot()->yAxis2->visible());  // momentum on the right axis
  plot.removeAllSeries();
  // Runs view: several finished runs overlaid, each a series with its own colour and legend entry.
  for (int run = 0; run < 4; ++run) {
    std::vector<double> x, y;
    for (int e = 0; e < 20; ++e) {
      x.push_back(e);
      y.push_back(1.0 / (e + 1 + run));
    }
    plot.setSeriesData(QStringLiteral("run %1").arg(run), x, y);
  }
  plot.refreshNow();
  EXPECT_EQ(plot.seriesNames().size(), 4);
  EXPECT_EQ(plot.customPlot()->legend->itemCount(), 4);
  EXPECT_EQ(plot.pointCount("run 2"), 20);
  plot.setSeriesVisible("run 1", false);
  EXPECT_FALSE(plot.isSeriesVisible("run 1"));
  plot.removeSeries("run 0");
  EXPECT_EQ(plot.customPlot()->legend->itemCount(), 3);
  EXPECT_EQ(plot.customPlot()->graphCount(), 3);
  plot.clearData();
  EXPECT_EQ(plot.pointCount("run 2"), 0);
  EXPECT_EQ(plot.seriesNames().size(), 3);
}

TEST(TrainingPlot, SmoothingIsDebiasedEma) {
  app();
  TrainingPlot plot;
  SeriesStyle s;
  s.smoothing = 0.9;
  plot.addSeries("loss", s);
  for (int i = 0; i < 50; ++i) plot.append("loss", i, 3.0);
  for (double v : plot.smoothedY("loss")) EXPECT_NEAR(v, 3.0, 1e-12);
  // Restyling with another weight recomputes the whole smoothed curve.
  s.smoothing = 0.0;
  plot.addSeries("loss", s);
  EXPECT_TRUE(plot.smoothedY("loss").empty());
}
