// Renders every widget of perceptra_widgets, in the dark and light themes,
// to PNG files for a visual check:  widget_gallery OUT_DIR
// Uses Fashion-MNIST test images when Debian's dataset-fashion-mnist is
// installed (synthetic images otherwise). Not a test: a person looks.
#include <zlib.h>

#include <QApplication>
#include <QCheckBox>
#include <QDir>
#include <QGridLayout>
#include <QGroupBox>
#include <QLabel>
#include <QTest>
#include <QVBoxLayout>

#include <cmath>
#include <cstdio>
#include <random>

#include "widgets/activation_view.h"
#include "widgets/class_histogram.h"
#include "widgets/colormap.h"
#include "widgets/confusion_matrix_view.h"
#include "widgets/image_grid.h"
#include "widgets/lr_finder_plot.h"
#include "widgets/probability_bars.h"
#include "widgets/theme.h"
#include "widgets/training_plot.h"

using namespace perceptra::widgets;

namespace {

const QStringList kClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

struct Images {
  std::vector<std::vector<float>> pixels;  // 28*28 in [0,1]
  std::vector<int> labels;
};

std::vector<unsigned char> gunzip(const char* path) {
  std::vector<unsigned char> out;
  gzFile f = gzopen(path, "rb");
  if (!f) return out;
  unsigned char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  gzclose(f);
  return out;
}

Images loadImages(int count) {
  Images im;
  const auto img = gunzip("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
  const auto lab = gunzip("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
  if (img.size() >= 16 + std::size_t(count) * 784 && lab.size() >= 8 + std::size_t(count)) {
    for (int i = 0; i < count; ++i) {
      std::vector<float> p(784);
      for (int k = 0; k < 784; ++k) p[std::size_t(k)] = img[16 + std::size_t(i) * 784 + std::size_t(k)] / 255.0f;
      im.pixels.push_back(p);
      im.labels.push_back(lab[8 + std::size_t(i)]);
    }
    return im;
  }
  std::mt19937 rng(1);
  for (int i = 0; i < count; ++i) {  // blobs, so the gallery works anywhere
    std::vector<float> p(784);
    const float cx = 10 + rng() % 8, cy = 10 + rng() % 8, r = 5 + rng() % 6;
    for (int y = 0; y < 28; ++y)
      for (int x = 0; x < 28; ++x) p[std::size_t(y * 28 + x)] = std::max(0.0f, 1.0f - std::hypot(x - cx, y - cy) / r);
    im.pixels.push_back(p);
    im.labels.push_back(i % 10);
  }
  return im;
}

QImage toImage(const std::vector<float>& p) {
  return floatPlaneToImage(p.data(), 28, 28, Colormap::Gray, ValueRange{0.0f, 1.0f});
}

// 3x3 "convolution" + ReLU, optionally 2x2 max-pooled: plausible activations.
std::vector<float> fakeLayer(const std::vector<float>& in, int inSize, int channels, bool pool, int seed) {
  std::mt19937 rng{unsigned(seed)};
  std::normal_distribution<float> n(0.0f, 1.0f);
  const int out = pool ? inSize / 2 : inSize;
  std::vector<float> act(std::size_t(channels * out * out));
  for (int c = 0; c < channels; ++c) {
    float w[9];
    for (float& v : w) v = n(rng);
    std::vector<float> full(std::size_t(inSize * inSize));
    for (int y = 0; y < inSize; ++y)
      for (int x = 0; x < inSize; ++x) {
        float s = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) {
            const int yy = std::clamp(y + dy, 0, inSize - 1), xx = std::clamp(x + dx, 0, inSize - 1);
            s += w[(dy + 1) * 3 + dx + 1] * in[std::size_t(yy * inSize + xx)];
          }
        full[std::size_t(y * inSize + x)] = std::max(0.0f, s);
      }
    for (int y = 0; y < out; ++y)
      for (int x = 0; x < out; ++x) {
        float v = full[std::size_t((pool ? 2 * y : y) * inSize + (pool ? 2 * x : x))];
        if (pool)
          v = std::max({v, full[std::size_t(2 * y * inSize + 2 * x + 1)],
                        full[std::size_t((2 * y + 1) * inSize + 2 * x)],
                        full[std::size_t((2 * y + 1) * inSize + 2 * x + 1)]});
        act[std::size_t(c * out * out + y * out + x)] = v;
      }
  }
  return act;
}

void save(QWidget* w, const QString& dir, const QString& name, QSize size) {
  w->resize(size);
  w->show();
  if (!QTest::qWaitForWindowExposed(w)) std::fprintf(stderr, "window not exposed\n");
  QTest::qWait(250);  // plots refresh on their 10 Hz timer
  for (TrainingPlot* p : w->findChildren<TrainingPlot*>()) p->refreshNow();
  if (auto* p = qobject_cast<TrainingPlot*>(w)) p->refreshNow();
  QTest::qWait(50);
  const QString path = dir + "/" + name + ".png";
  if (!w->grab().save(path))
    std::fprintf(stderr, "cannot write %s\n", qPrintable(path));
  else
    std::printf("%s\n", qPrintable(path));
}

double lossAt(int i, std::mt19937& rng, double floor) {
  std::normal_distribution<double> noise(0.0, 1.0);
  const double epoch = i / 469.0;
  const double base = floor + 1.9 * std::exp(-epoch * 1.8) + 0.25 * std::exp(-epoch * 0.15);
  return std::max(0.01, base * (1.0 + 0.18 * noise(rng)));
}

}  // namespace

int main(int argc, char** argv) {
  if (qgetenv("QT_QPA_PLATFORM").isEmpty()) qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  const QString out = argc > 1 ? QString::fromLocal8Bit(argv[1]) : QStringLiteral("/tmp/perceptra-gallery");
  QDir().mkpath(out);
  const Images images = loadImages(400);

  for (Theme theme : {Theme::Dark, Theme::Light}) {
    applyTheme(app, theme);
    const QString suffix = "_" + themeName(theme);

    // ---- training curves: 100 epochs x 469 batches ~ 47k points
    TrainingPlot loss;
    loss.applyPreset(TrainingPlot::Preset::Loss);
    std::mt19937 rng(7);
    const int batches = 469, epochs = 100;
    for (int i = 0; i < batches * epochs; ++i)
      loss.append(TrainingPlot::kTrainLoss, i / double(batches), lossAt(i, rng, 0.12));
    for (int e = 1; e <= epochs; ++e)
      loss.append(TrainingPlot::kValidLoss, e, 0.26 + 0.9 * std::exp(-e * 1.2) + 0.0012 * e);
    save(&loss, out, "training_plot_loss" + suffix, {640, 360});
    loss.setLogY(true);
    save(&loss, out, "training_plot_loss_log" + suffix, {640, 360});

    TrainingPlot acc;
    acc.applyPreset(TrainingPlot::Preset::Accuracy);
    for (int e = 1; e <= 30; ++e) {
      acc.append(TrainingPlot::kTrainAccuracy, e, 0.97 - 0.2 * std::exp(-e * 0.35));
      acc.append(TrainingPlot::kValidAccuracy, e, 0.915 - 0.18 * std::exp(-e * 0.4));
    }
    save(&acc, out, "training_plot_accuracy" + suffix, {640, 360});

    TrainingPlot sched;
    sched.applyPreset(TrainingPlot::Preset::Schedule);
    const int total = 20 * batches;
    for (int i = 0; i < total; ++i) {
      const double t = double(i) / total, warm = 0.3;
      const double f = t < warm ? t / warm : (1 + std::cos(M_PI * (t - warm) / (1 - warm))) / 2;
      const double lr = t < warm ? 4e-4 + (1e-2 - 4e-4) * f : 1e-7 + (1e-2 - 1e-7) * f;
      const double mom = t < warm ? 0.95 - 0.1 * f : 0.85 + 0.1 * (1 - f);
      sched.append(TrainingPlot::kLearningRate, i / double(batches), lr);
      sched.append(TrainingPlot::kMomentum, i / double(batches), mom);
    }
    save(&sched, out, "training_plot_schedule" + suffix, {640, 300});

    TrainingPlot runs;
    runs.setYLabel("valid loss");
    for (int r = 0; r < 4; ++r) {
      std::vector<double> x, y;
      for (int e = 1; e <= 30; ++e) {
        x.push_back(e);
        y.push_back(0.22 + 0.04 * r + (0.8 + 0.3 * r) * std::exp(-e * (0.5 - 0.08 * r)));
      }
      SeriesStyle s;
      s.shape = SeriesStyle::Shape::LineAndMarkers;
      runs.addSeries(QStringList{"#12 SimpleCNN sgd 0.05", "#13 SimpleCNN adam 1e-3", "#14 MLP sgd 0.1",
                                 "#15 LeNet-5 sgd 0.02"}[r],
                     s);
      runs.setSeriesData(runs.seriesNames().back(), x, y);
    }
    save(&runs, out, "training_plot_runs" + suffix, {640, 360});

    // ---- LR finder
    LrFinderPlot lrf;
    std::vector<double> lrs, ls, sm;
    double ema = 0;
    for (int i = 0; i < 100; ++i) {
      const double lr = 1e-7 * std::pow(10.0, i * 8.0 / 99);
      const double l = std::log10(lr);
      double v = 2.30 - 1.6 / (1 + std::exp(-(l + 3.2) * 2.5)) + (l > -1.3 ? std::pow(10, (l + 1.3) * 2.5) - 1 : 0);
      v *= 1 + 0.04 * std::normal_distribution<double>(0, 1)(rng);
      lrs.push_back(lr);
      ls.push_back(v);
      ema = 0.9 * ema + 0.1 * v;
      sm.push_back(ema / (1 - std::pow(0.9, i + 1)));
    }
    lrf.setData(lrs, ls, sm);
    lrf.setSuggestion(2.1e-3);
    lrf.setPickedLr(lrs[75]);
    save(&lrf, out, "lr_finder" + suffix, {600, 340});

    // ---- confusion matrix (Fashion-MNIST-like, 91 % accuracy)
    std::vector<double> cm(100, 0.0);
    const int confusions[][3] = {{6, 0, 95}, {0, 6, 70}, {4, 2, 60}, {2, 4, 55}, {6, 4, 65}, {4, 6, 50},
                                 {6, 2, 58}, {2, 6, 45}, {0, 3, 25}, {3, 4, 22}, {9, 7, 30}, {7, 9, 28},
                                 {5, 7, 25}, {3, 0, 18}, {8, 6, 8},  {1, 3, 12}, {5, 9, 12}};
    for (int t = 0; t < 10; ++t) cm[std::size_t(t * 11)] = 1000;
    for (const auto& c : confusions) {
      cm[std::size_t(c[0] * 10 + c[1])] += c[2];
      cm[std::size_t(c[0] * 11)] -= c[2];
    }
    for (int t = 0; t < 10; ++t)
      for (int p = 0; p < 10; ++p)
        if (t != p && cm[std::size_t(t * 10 + p)] == 0 && (t * 7 + p * 3) % 5 == 0) {
          cm[std::size_t(t * 10 + p)] = 1 + (t + p) % 4;
          cm[std::size_t(t * 11)] -= cm[std::size_t(t * 10 + p)];
        }
    ConfusionMatrixView cmv;
    cmv.setCounts(cm, 10);
    cmv.setClassNames(kClasses);
    cmv.setSelectedCell(6, 0);
    save(&cmv, out, "confusion" + suffix, {620, 540});
    cmv.setNormalized(true);
    save(&cmv, out, "confusion_normalized" + suffix, {620, 540});
    save(&cmv, out, "confusion_small" + suffix, {340, 300});

    // ---- image grid (top losses)
    ImageGrid grid;
    std::vector<ImageGridItem> items;
    std::mt19937 r2(3);
    for (std::size_t i = 0; i < images.pixels.size(); ++i) {
      const int t = images.labels[i];
      const int p = (i % 4 == 0) ? t : int((t + 1 + r2() % 9) % 10);
      const double prob = 0.45 + 0.5 * (r2() % 100) / 100.0;
      const double l = 4.0 * std::exp(-double(i) / 120.0) + 0.05;
      ImageGridItem it;
      it.image = toImage(images.pixels[i]);
      it.caption =
          QStringLiteral("%1 → %2\n%3 · loss %4").arg(kClasses[t], kClasses[p]).arg(prob, 0, 'f', 2).arg(l, 0, 'f', 2);
      it.accent = p == t ? QColor() : QColor(0xe8, 0x5d, 0x63);
      items.push_back(it);
    }
    grid.setItems(items);
    grid.setSelectedIndex(2);
    save(&grid, out, "image_grid" + suffix, {700, 480});
    grid.setThumbnailSize(40);
    grid.setCaptionLines(0);
    save(&grid, out, "image_grid_small" + suffix, {700, 300});

    // ---- activations for a probe image
    ActivationView act;
    {
      const std::vector<float>& probe = images.pixels[0];
      const auto c1 = fakeLayer(probe, 28, 16, false, 1);
      std::vector<float> mean(28 * 28, 0.0f);
      for (int c = 0; c < 16; ++c)
        for (int k = 0; k < 784; ++k) mean[std::size_t(k)] += c1[std::size_t(c * 784 + k)] / 16;
      const auto c2 = fakeLayer(mean, 28, 32, true, 2);
      std::vector<float> mean2(14 * 14, 0.0f);
      for (int c = 0; c < 32; ++c)
        for (int k = 0; k < 196; ++k) mean2[std::size_t(k)] += c2[std::size_t(c * 196 + k)] / 32;
      const auto c3 = fakeLayer(mean2, 14, 64, true, 3);
      std::vector<ActivationEntry> entries;
      entries.push_back({"input", "1 × 28 × 28", toImage(probe)});
      entries.push_back(
          {"conv1 · Conv2d 3×3", "16 × 28 × 28", tilePlanes(c1.data(), 16, 28, 28, Colormap::Viridis, 8)});
      entries.push_back({"pool1 · MaxPool2d", "32 × 14 × 14", tilePlanes(c2.data(), 32, 14, 14, Colormap::Viridis, 8)});
      entries.push_back({"conv2 · Conv2d 3×3", "64 × 7 × 7", tilePlanes(c3.data(), 64, 7, 7, Colormap::Viridis, 16)});
      act.setEntries(entries);
    }
    save(&act, out, "activations" + suffix, {420, 620});

    // ---- class histogram
    ClassHistogram hist;
    hist.setCounts(kClasses, {4813, 4787, 4824, 4791, 4805, 4783, 4822, 4795, 4781, 4799}, "train");
    hist.addGroup("valid", {1187, 1213, 1176, 1209, 1195, 1217, 1178, 1205, 1219, 1201});
    save(&hist, out, "class_histogram" + suffix, {640, 300});
    ClassHistogram hist1;
    hist1.setCounts({"circle", "square", "triangle", "star"}, {250, 240, 262, 120});
    save(&hist1, out, "class_histogram_one" + suffix, {400, 260});

    // ---- probability bars
    ProbabilityBars bars;
    bars.setProbabilities({0.31f, 0.001f, 0.02f, 0.03f, 0.05f, 0.0f, 0.57f, 0.0f, 0.019f, 0.0f}, kClasses);
    bars.setTrueClass(0);
    save(&bars, out, "probability_bars" + suffix, {360, bars.sizeHint().height()});

    // ---- colormaps and Grad-CAM overlay
    {
      QWidget strip;
      auto* lay = new QGridLayout(&strip);
      int col = 0;
      const QImage probe = toImage(images.pixels[0]).scaled(168, 168, Qt::KeepAspectRatio, Qt::FastTransformation);
      std::vector<float> heat(7 * 7);
      for (int y = 0; y < 7; ++y)
        for (int x = 0; x < 7; ++x)
          heat[std::size_t(y * 7 + x)] = std::exp(-((x - 2) * (x - 2) + (y - 4) * (y - 4)) / 3.0f);
      for (auto [title, img] : std::vector<std::pair<QString, QImage>>{
               {"image", probe},
               {"heat (magma)", floatPlaneToImage(heat.data(), 7, 7, Colormap::Magma).scaled(168, 168)},
               {"Grad-CAM overlay 0.55", overlayHeatmap(probe, heat.data(), 7, 7, 0.55)},
               {"viridis overlay", overlayHeatmap(probe, heat.data(), 7, 7, 0.55, Colormap::Viridis)}}) {
        auto* l = new QLabel;
        l->setPixmap(QPixmap::fromImage(img));
        lay->addWidget(l, 0, col);
        lay->addWidget(new QLabel(title), 1, col++, Qt::AlignHCenter);
      }
      int row = 2;
      for (Colormap m : {Colormap::Viridis, Colormap::Magma, Colormap::Gray}) {
        std::vector<float> ramp(256);
        for (int i = 0; i < 256; ++i) ramp[std::size_t(i)] = float(i);
        auto* l = new QLabel;
        l->setPixmap(QPixmap::fromImage(floatPlaneToImage(ramp.data(), 256, 1, m).scaled(600, 14)));
        lay->addWidget(l, row, 0, 1, 3);
        lay->addWidget(new QLabel(colormapName(m)), row++, 3);
      }
      save(&strip, out, "colormaps_overlay" + suffix, {720, 320});
    }

    // ---- a dashboard mock-up to judge the widgets together
    {
      QWidget dash;
      auto* g = new QGridLayout(&dash);
      g->setContentsMargins(8, 8, 8, 8);
      g->setSpacing(8);
      auto box = [](const QString& title, QWidget* w) {
        auto* b = new QGroupBox(title);
        auto* l = new QVBoxLayout(b);
        l->setContentsMargins(4, 8, 4, 4);
        l->addWidget(w);
        return b;
      };
      auto* l2 = new TrainingPlot;
      l2->applyPreset(TrainingPlot::Preset::Loss);
      std::mt19937 r3(7);
      for (int i = 0; i < 12 * batches; ++i)
        l2->append(TrainingPlot::kTrainLoss, i / double(batches), lossAt(i, r3, 0.12));
      for (int e = 1; e <= 12; ++e) l2->append(TrainingPlot::kValidLoss, e, 0.26 + 0.9 * std::exp(-e * 1.2));
      auto* a2 = new TrainingPlot;
      a2->applyPreset(TrainingPlot::Preset::Accuracy);
      for (int e = 1; e <= 12; ++e) {
        a2->append(TrainingPlot::kTrainAccuracy, e, 0.97 - 0.2 * std::exp(-e * 0.35));
        a2->append(TrainingPlot::kValidAccuracy, e, 0.915 - 0.18 * std::exp(-e * 0.4));
      }
      auto* c2 = new ConfusionMatrixView;
      c2->setCounts(cm, 10);
      c2->setClassNames(kClasses);
      c2->setSelectedCell(6, 0);
      auto* g2 = new ImageGrid;
      g2->setItems(items);
      g2->setThumbnailSize(56);
      auto* b2 = new ProbabilityBars;
      b2->setProbabilities({0.31f, 0.001f, 0.02f, 0.03f, 0.05f, 0.0f, 0.57f, 0.0f, 0.019f, 0.0f}, kClasses);
      b2->setTrueClass(0);
      b2->setMaxRows(5);
      g->addWidget(box("Loss", l2), 0, 0);
      g->addWidget(box("Accuracy", a2), 1, 0);
      g->addWidget(box("Confusion matrix", c2), 0, 1, 2, 1);
      g->addWidget(box("Top losses", g2), 2, 0);
      g->addWidget(box("Prediction", b2), 2, 1);
      g->setRowStretch(0, 1);
      g->setRowStretch(1, 1);
      g->setRowStretch(2, 1);
      save(&dash, out, "dashboard" + suffix, {1280, 900});
    }
  }
  return 0;
}
