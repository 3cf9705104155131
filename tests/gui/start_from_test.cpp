// The Model dock's "Start from" and the Training dock's Fine-tune group,
// driven like a user: a .pmodel file, a saved run's model and a torchvision
// .safetensors state dict (generated with /usr/bin/python3, imported on a
// worker) fill the run's config (from_model, freeze_epochs, lr_mult, epochs)
// and the trained run starts from that model: the body's weights after a
// frozen-only epoch are the file's, the head is new for the sample's classes.
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "app/studio/dataset_panel.h"
#include "app/studio/fine_tune_box.h"
#include "app/studio/layer_table_model.h"
#include "app/studio/main_window.h"
#include "app/studio/model_panel.h"
#include "app/studio/start_from_box.h"
#include "app/studio/training_panel.h"
#include "core/io/model_file.h"
#include "core/nn/model.h"

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

std::vector<float> firstParam(const std::string& modelPath) {
  return load_model(modelPath).model->parameters().front()->value.to_vector();
}

// Trains the window's config, capped to a few batches; the run's TrainEnd.
TrainEnd trainCapped(MainWindow& w, const TrainConfig& c) {
  bool ended = false;
  auto conn = QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  EXPECT_TRUE(w.startTraining(c));
  EXPECT_TRUE(waitFor([&] { return ended; }, 180000)) << "training did not end";
  QObject::disconnect(conn);
  return w.lastEnd().value_or(TrainEnd{});
}

void shot(QWidget* w, const char* name) {
  const QString dir = qEnvironmentVariable("PERCEPTRA_GUI_SHOTS");
  if (dir.isEmpty()) return;
  if (auto* dock = w->findChild<QDockWidget*>(QStringLiteral("modelDock"))) dock->raise();
  QTest::qWait(200);
  w->grab().save(dir + "/" + name + ".png");
}

}  // namespace

TEST(StartFrom, PmodelFileAndSavedRunFillTheConfigAndTheRunStartsFromThem) {
  MainWindow w(testOptions("pmodel"));
  w.show();
  ASSERT_TRUE(waitFor([&] { return w.datasetPanel()->source() && !w.datasetPanel()->isLoading(); }, 30000));
  auto* box = w.modelPanel()->startFrom();
  auto* fine = w.trainingPanel()->fineTune();
  TrainConfig c = w.currentConfig();
  EXPECT_TRUE(c.from_model.empty());  // scratch by default
  EXPECT_FALSE(fine->active());
  EXPECT_FALSE(child<QSpinBox>(&w, "freezeEpochs")->isEnabled());

  // A 4-class ResNet at 1x20x20 (the sample shapes are 28x28, 6 classes).
  const std::string src = tempDir().filePath("small.pmodel").toStdString();
  {
    Rng rng(5);
    auto m = Model::from_spec(Model::builtin_spec("resnet-small", Shape({1, 20, 20}), 4), rng);
    save_model(src, *m);
  }
  box->chooseFile(QString::fromStdString(src));
  ASSERT_TRUE(waitFor([&] { return !box->modelPath().isEmpty(); }, 30000)) << box->statusText().toStdString();
  EXPECT_EQ(box->source(), StartFromBox::File);
  EXPECT_EQ(box->layers()->rowCount(), 11);  // stem (3), 6 blocks, pool, linear
  EXPECT_EQ(box->layers()->data(box->layers()->index(10, LayerTableModel::Output), Qt::DisplayRole).toString(),
            QStringLiteral("4"));
  EXPECT_TRUE(box->statusText().contains(QStringLiteral("1×20×20"))) << box->statusText().toStdString();
  EXPECT_TRUE(fine->active());
  child<QSpinBox>(&w, "freezeEpochs")->setValue(1);
  child<QSpinBox>(&w, "unfrozenEpochs")->setValue(0);
  child<QDoubleSpinBox>(&w, "lrMult")->setValue(10);
  child<QSpinBox>(&w, "batchSize")->setValue(32);
  c = w.currentConfig();
  EXPECT_EQ(c.from_model, src);
  EXPECT_EQ(c.freeze_epochs, 1);
  EXPECT_EQ(c.epochs, 1);
  EXPECT_DOUBLE_EQ(c.lr_mult, 10);
  shot(&w, "start_from_pmodel");

  c.max_batches = 3;
  TrainEnd e = trainCapped(w, c);
  ASSERT_EQ(e.reason, EndReason::Done) << e.message;
  LoadedModel out = load_model(e.model_path);
  EXPECT_EQ(out.model->input_shape(), Shape({1, 20, 20}));  // the file's input, not the data's
  EXPECT_EQ(out.model->num_classes(), 6);                   // a new head for the sample's classes
  EXPECT_EQ(firstParam(e.model_path), firstParam(src));     // body frozen the whole run

  // A saved run's model: the run just trained is listed with its model.
  box->setSource(StartFromBox::SavedRun);
  ASSERT_TRUE(waitFor([&] { return box->modelPath() == QString::fromStdString(e.model_path); }, 30000))
      << box->statusText().toStdString();
  EXPECT_EQ(w.currentConfig().from_model, e.model_path);
  // Back to scratch: nothing from before leaks into the config.
  box->setSource(StartFromBox::Scratch);
  EXPECT_TRUE(w.currentConfig().from_model.empty());
  EXPECT_FALSE(fine->active());
}

TEST(StartFrom, SafetensorsStateDictIsImportedOnAWorkerAndFineTuned) {
  // torchvision mobilenet_v2 with seeded random weights, its stem conv's
  // weights beside it for the comparison.
  const QString dir = tempDir().filePath("st");
  QDir().mkpath(dir);
  const std::string script = (dir + "/make.py").toStdString();
  std::ofstream(script) << R"(import json, struct, sys, torch, torchvision
torch.manual_seed(7)
m = torchvision.models.mobilenet_v2()
sd = m.state_dict()
header, blobs, off = {}, [], 0
for k, t in sd.items():
    t = t.detach().contiguous()
    data = t.numpy().tobytes()
    header[k] = {"dtype": {torch.float32: "F32", torch.int64: "I64"}[t.dtype], "shape": list(t.shape),
                 "data_offsets": [off, off + len(data)]}
    blobs.append(data); off += len(data)
h = json.dumps(header).encode(); h += b" " * ((8 - len(h) % 8) % 8)
with open(sys.argv[1] + "/mnv2.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h))); f.write(h)
    for b in blobs: f.write(b)
open(sys.argv[1] + "/stem.bin", "wb").write(sd["features.0.0.weight"].numpy().tobytes())
)";
  const std::string cmd =
      "/usr/bin/python3 " + script + " " + dir.toStdString() + " > " + (dir + "/py.log").toStdString() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "python3-torch is needed (scripts/setup)";
  std::vector<float> stem(32 * 3 * 3 * 3);
  std::ifstream(dir.toStdString() + "/stem.bin", std::ios::binary)
      .read(reinterpret_cast<char*>(stem.data()), std::streamsize(stem.size() * sizeof(float)));

  MainWindow w(testOptions("safetensors"));
  w.show();
  ASSERT_TRUE(waitFor([&] { return w.datasetPanel()->source() && !w.datasetPanel()->isLoading(); }, 30000));
  auto* box = w.modelPanel()->startFrom();
  child<QComboBox>(&w, "startArch")->setCurrentText(QStringLiteral("mobilenet_v2"));
  child<QSpinBox>(&w, "startInputSize")->setValue(32);
  QElapsedTimer clock;
  clock.start();
  box->chooseFile(dir + "/mnv2.safetensors");
  EXPECT_LT(clock.elapsed(), 1000) << "the import must not run on the UI thread";
  EXPECT_TRUE(box->busy() || !box->modelPath().isEmpty());
  ASSERT_TRUE(waitFor([&] { return !box->busy() && !box->modelPath().isEmpty(); }, 120000))
      << box->statusText().toStdString();
  EXPECT_TRUE(box->statusText().contains(QStringLiteral("safetensors"))) << box->statusText().toStdString();
  EXPECT_TRUE(box->statusText().contains(QStringLiteral("3×32×32"))) << box->statusText().toStdString();
  EXPECT_GT(box->layers()->rowCount(), 10);
  EXPECT_TRUE(box->layers()->isValid()) << box->layers()->firstError().toStdString();
  // The imported file lives in the workspace, next to the runs folder.
  EXPECT_TRUE(box->modelPath().contains(QStringLiteral("/imported/"))) << box->modelPath().toStdString();
  child<QSpinBox>(&w, "freezeEpochs")->setValue(1);
  child<QSpinBox>(&w, "unfrozenEpochs")->setValue(0);
  child<QSpinBox>(&w, "batchSize")->setValue(16);
  TrainConfig c = w.currentConfig();
  EXPECT_EQ(c.from_model, box->modelPath().toStdString());
  EXPECT_EQ(c.epochs, 1);
  shot(&w, "start_from_safetensors");

  c.max_batches = 2;
  TrainEnd e = trainCapped(w, c);
  ASSERT_EQ(e.reason, EndReason::Done) << e.message;
  LoadedModel out = load_model(e.model_path);
  EXPECT_EQ(out.model->input_shape(), Shape({3, 32, 32}));
  EXPECT_EQ(out.model->num_classes(), 6);
  EXPECT_EQ(firstParam(e.model_path), stem);  // PyTorch's stem weights, untouched while frozen

  // A state dict that does not follow the chosen architecture: an error
  // naming the problem, no model to start from.
  child<QComboBox>(&w, "startArch")->setCurrentText(QStringLiteral("resnet18"));
  ASSERT_TRUE(waitFor([&] { return !box->busy(); }, 60000));
  QTest::qWait(50);
  EXPECT_TRUE(box->modelPath().isEmpty());
  EXPECT_FALSE(box->statusText().isEmpty());
  EXPECT_TRUE(w.currentConfig().from_model.empty());
}

int main(int argc, char** argv) {
  qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("PerceptraTest"));
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
