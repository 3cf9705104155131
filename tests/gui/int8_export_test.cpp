// Export > int8 (quantised), driven like a user: a model trained in the
// studio on the sample shapes is quantised on a worker (progress, cancel),
// the diff report shows (accuracy per class, layers, flipped images as a
// grid with the right count and labels), and the int8 .pmodel written from
// the dialog loads as int8 and equals what `perceptra-cli quantize` writes
// with the same choices (same int8 weights, scales and predictions).
#include <QApplication>
#include <QComboBox>
#include <QFileInfo>
#include <QLabel>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "app/studio/dataset_panel.h"
#include "app/studio/int8_export_dialog.h"
#include "app/studio/main_window.h"
#include "core/data/resolve.h"
#include "core/quant/quantized_file.h"
#include "widgets/image_grid.h"

using namespace perceptra;
using namespace perceptra::studio;

namespace {

QTemporaryDir& tempDir() {
  static QTemporaryDir dir;
  return dir;
}

StudioOptions testOptions(const QString& tag) {
  StudioOptions o;
  o.dbPath = tempDir().filePath(tag + ".db");
  o.runsDir = tempDir().filePath(tag + "-runs");
  o.settingsFile = tempDir().filePath(tag + ".ini");
  o.initialDataset = QStringLiteral("sample");
  o.restoreLayout = false;
  return o;
}

template <typename T>
T* child(QObject* root, const char* name) {
  T* w = root->findChild<T*>(QString::fromLatin1(name));
  EXPECT_NE(w, nullptr) << "no child named " << name;
  return w;
}

bool waitFor(const std::function<bool()>& cond, int ms) { return QTest::qWaitFor(cond, ms); }

// A SimpleCNN trained for a few batches in the window: the model to quantise.
QString trainSmallModel(MainWindow& w) {
  TrainConfig c = w.currentConfig();
  c.model = "simplecnn";
  c.epochs = 1;
  c.batch_size = 32;
  c.max_batches = 12;
  bool ended = false;
  auto conn = QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  EXPECT_TRUE(w.startTraining(c));
  EXPECT_TRUE(waitFor([&] { return ended; }, 240000)) << "training did not end";
  QObject::disconnect(conn);
  return w.lastModelPath();
}

void shot(QWidget* w, const char* name) {
  const QString dir = qEnvironmentVariable("PERCEPTRA_GUI_SHOTS");
  if (dir.isEmpty()) return;
  QTest::qWait(200);
  w->grab().save(dir + "/" + name + ".png");
}

int cli(const std::string& args) {
  const std::string cmd = std::string("OMP_NUM_THREADS=2 '") + PERCEPTRA_CLI + "' " + args + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

quant::QuantizedModel& plan(const LoadedModel& m) {
  auto* q = dynamic_cast<quant::QuantizedModel*>(m.model->inference_override());
  EXPECT_NE(q, nullptr);
  return *q;
}

}  // namespace

TEST(Int8Export, QuantiseShowTheDiffAndWriteWhatTheCliWrites) {
  MainWindow w(testOptions("int8"));
  w.show();
  ASSERT_TRUE(waitFor([&] { return w.datasetPanel()->source() && !w.datasetPanel()->isLoading(); }, 30000));
  const QString model = trainSmallModel(w);
  ASSERT_FALSE(model.isEmpty());
  ASSERT_TRUE(w.action(QStringLiteral("actionExportInt8"))->isEnabled());

  Int8ExportDialog* d = w.openInt8Export();
  ASSERT_NE(d, nullptr);
  auto* layers = child<QListWidget>(d, "int8FloatLayers");
  ASSERT_EQ(layers->count(), 4);                                       // conv0, conv3, fc7, fc9
  EXPECT_FALSE(child<QPushButton>(d, "int8WriteModel")->isEnabled());  // nothing to write before a report
  child<QSpinBox>(d, "int8Calibration")->setValue(16);
  child<QSpinBox>(d, "int8Holdout")->setValue(200);
  auto* method = child<QComboBox>(d, "int8Method");
  method->setCurrentIndex(method->findData(QStringLiteral("minmax")));
  layers->item(3)->setCheckState(Qt::Checked);  // fc9 stays float

  bool finished = false, ok = false;
  QObject::connect(d, &Int8ExportDialog::quantizeFinished, [&](bool r) {
    finished = true;
    ok = r;
  });
  QTest::mouseClick(child<QPushButton>(d, "int8Quantize"), Qt::LeftButton);
  EXPECT_TRUE(d->isRunning());
  EXPECT_TRUE(child<QPushButton>(d, "int8Cancel")->isEnabled());
  ASSERT_TRUE(waitFor([&] { return finished; }, 240000));
  ASSERT_TRUE(ok) << d->lastError().toStdString();
  EXPECT_EQ(child<QProgressBar>(d, "int8Progress")->value(), 1000);

  const nlohmann::json rep = d->report();
  ASSERT_TRUE(rep.contains("int8_accuracy"));
  EXPECT_EQ(rep["sensitivity_split"], "held-out training images");
  EXPECT_EQ(rep["sensitivity_images"], 200);
  EXPECT_EQ(rep["calibration_images"], 16);
  EXPECT_EQ(rep["float_layers"], nlohmann::json::array({"fc9"}));
  EXPECT_GT(rep["int8_file_bytes"].get<double>(), 0);  // measured before writing
  EXPECT_TRUE(child<QLabel>(d, "int8Summary")->text().contains(QStringLiteral("Accuracy")));
  EXPECT_EQ(child<QTableWidget>(d, "int8PerClass")->rowCount(), 6);
  EXPECT_EQ(child<QTableWidget>(d, "int8Layers")->rowCount(), 4);

  // The flipped grid: one thumbnail per flipped image, in the report's order.
  widgets::ImageGrid* grid = d->flippedGrid();
  const auto& flips = rep["flipped"];
  ASSERT_EQ(grid->count(), int(std::min<size_t>(flips.size(), Int8ExportDialog::kMaxFlipped)));
  DataSource sample = open_dataset("sample");
  for (int i = 0; i < grid->count(); ++i) {
    const auto& it = grid->item(i);
    EXPECT_EQ(it.data.toLongLong(), flips[size_t(i)]["index"].get<int64_t>());
    const std::string truth = sample.class_names[size_t(flips[size_t(i)]["label"].get<int>())];
    EXPECT_TRUE(it.caption.startsWith(QStringLiteral("true: ") + QString::fromStdString(truth)))
        << it.caption.toStdString();
    EXPECT_FALSE(it.image.isNull());
  }
  auto* tabs = child<QTabWidget>(d, "int8ReportTabs");
  EXPECT_TRUE(tabs->tabText(3).contains(QString::number(flips.size())));
  if (grid->count() > 0) {
    tabs->setCurrentIndex(3);
    emit grid->itemClicked(0);
    EXPECT_FALSE(child<QLabel>(d, "int8Preview")->pixmap().isNull());
    shot(d, "int8-export-flipped");
  }
  tabs->setCurrentIndex(2);
  shot(d, "int8-export-layers");
  tabs->setCurrentIndex(0);
  shot(d, "int8-export-summary");

  // Write: the file loads as int8 and carries the report.
  const QString out = tempDir().filePath("studio-int8.pmodel");
  QString err;
  ASSERT_TRUE(d->writePmodel(out, &err)) << err.toStdString();
  LoadedModel studio = quant::load_any_model(out.toStdString());
  ASSERT_NE(studio.model->inference_override(), nullptr);
  EXPECT_EQ(quant::quantization_report(out.toStdString())["flipped"].size(), flips.size());
  const QString onnx = tempDir().filePath("studio-int8.onnx");
  ASSERT_TRUE(d->writeOnnx(onnx, &err)) << err.toStdString();
  std::ifstream of(onnx.toStdString(), std::ios::binary);
  const std::string onnxBytes(std::istreambuf_iterator<char>(of), {});
  EXPECT_NE(onnxBytes.find("QuantizeLinear"), std::string::npos);

  // The CLI with the same choices writes the same int8 model.
  const std::string cliOut = tempDir().filePath("cli-int8.pmodel").toStdString();
  ASSERT_EQ(
      cli("quantize --model '" + model.toStdString() +
          "' --data sample --calibration 16 --holdout 200 --method minmax --float-layers fc9 --out '" + cliOut + "'"),
      0);
  LoadedModel fromCli = quant::load_any_model(cliOut);
  auto a = plan(studio).quantizable(), b = plan(fromCli).quantizable();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->name, b[i]->name);
    EXPECT_EQ(a[i]->quantized, b[i]->quantized) << a[i]->name;
    EXPECT_EQ(a[i]->weights.values, b[i]->weights.values) << a[i]->name;
    EXPECT_EQ(a[i]->weights.scales, b[i]->weights.scales) << a[i]->name;
    EXPECT_EQ(a[i]->in_scale, b[i]->in_scale) << a[i]->name;
    EXPECT_EQ(a[i]->out_scale, b[i]->out_scale) << a[i]->name;
  }
  const auto cliRep = quant::quantization_report(cliOut);
  EXPECT_EQ(cliRep["flipped"], rep["flipped"]);
  EXPECT_EQ(cliRep["int8_accuracy"], rep["int8_accuracy"]);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < 64; ++i) idx.push_back(i * 11);
  Tensor x = quant::load_normalised(*sample.train, idx, studio.meta);
  EXPECT_EQ(studio.model->infer(x).to_vector(), fromCli.model->infer(x).to_vector());
  d->close();
}

TEST(Int8Export, CancelStopsTheWorkerAndWritesNothing) {
  MainWindow w(testOptions("int8cancel"));
  w.show();
  ASSERT_TRUE(waitFor([&] { return w.datasetPanel()->source() && !w.datasetPanel()->isLoading(); }, 30000));
  ASSERT_FALSE(trainSmallModel(w).isEmpty());
  Int8ExportDialog* d = w.openInt8Export();
  ASSERT_NE(d, nullptr);
  auto* method = child<QComboBox>(d, "int8Method");
  method->setCurrentIndex(method->findData(QStringLiteral("entropy")));
  bool finished = false, ok = true;
  QObject::connect(d, &Int8ExportDialog::quantizeFinished, [&](bool r) {
    finished = true;
    ok = r;
  });
  d->startQuantize();
  QTest::mouseClick(child<QPushButton>(d, "int8Cancel"), Qt::LeftButton);
  ASSERT_TRUE(waitFor([&] { return finished; }, 120000));
  EXPECT_FALSE(ok);
  EXPECT_TRUE(d->report().is_null());
  EXPECT_TRUE(child<QLabel>(d, "int8Status")->text().startsWith(QStringLiteral("Cancelled")));
  EXPECT_FALSE(child<QPushButton>(d, "int8WriteModel")->isEnabled());
  QString err;
  EXPECT_FALSE(d->writePmodel(tempDir().filePath("never.pmodel"), &err));
  EXPECT_FALSE(QFileInfo::exists(tempDir().filePath("never.pmodel")));
  d->close();
}

int main(int argc, char** argv) {
  qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("PerceptraTest"));
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
