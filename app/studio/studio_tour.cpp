#include "app/studio/studio_tour.h"

#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QGuiApplication>
#include <QMessageBox>
#include <QScreen>
#include <QSpinBox>
#include <QElapsedTimer>
#include <QTimer>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "app/studio/dataset_panel.h"
#include "app/studio/main_window.h"
#include "app/studio/model_panel.h"

namespace perceptra::studio {

namespace {

// Waits (processing events) until cond or the timeout.
bool settle(const std::function<bool()>& cond, int ms) {
  QElapsedTimer t;
  t.start();
  while (!cond() && t.elapsed() < ms) QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
  return cond();
}

void pause(int ms) {
  settle([] { return false; }, ms);
}

bool save(const QString& dir, const QString& name) {
  pause(300);
  QScreen* s = QGuiApplication::primaryScreen();
  const QString path = QDir(dir).filePath(name + QStringLiteral(".png"));
  const bool ok = s && s->grabWindow(0).save(path);
  std::fprintf(stderr, "%s %s\n", ok ? "saved" : "FAILED", qPrintable(path));
  return ok;
}

// A folder with one class of images and stray files: dataset warnings.
QString messyFolder(const QString& dir) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(dir.toStdString()) / "tour-photos";
  for (int c = 0; c < 2; ++c) {
    const fs::path cd = root / (c ? "dogs" : "cats");
    fs::create_directories(cd);
    for (int i = 0; i < 6; ++i) {
      std::ofstream f(cd / ("img_" + std::to_string(i) + ".pgm"), std::ios::binary);
      f << "P5\n32 32\n255\n";
      for (int p = 0; p < 32 * 32; ++p) f.put(char((p * (c + 3) + i * 7) % 255));
    }
  }
  std::ofstream(root / "notes.txt") << "loose file";
  std::ofstream(root / "cats" / "broken.jpg") << "not a jpeg";
  std::ofstream(root / "dogs" / "list.csv") << "a,b";
  return QString::fromStdString(root.string());
}

}  // namespace

void runTour(MainWindow& w, const QString& dir, std::function<void(bool)> done) {
  QTimer::singleShot(0, &w, [&w, dir, done] {
    QDir().mkpath(dir);
    bool ok = settle([&] { return w.datasetPanel()->source() && !w.datasetPanel()->isLoading(); }, 60000);
    w.setAskHandler([](const QString&, const QString&) { return false; });
    for (const QString theme : {QStringLiteral("dark"), QStringLiteral("light")}) {
      w.setThemeByName(theme);
      // Estimate of a run that fits: the Model dock.
      w.datasetPanel()->openDataset(QStringLiteral("sample"));
      settle(
          [&] {
            return w.datasetPanel()->currentRequest() == QLatin1String("sample") && !w.datasetPanel()->isLoading();
          },
          60000);
      w.findChild<QComboBox*>(QStringLiteral("builtinCombo"))->setCurrentText(QStringLiteral("simplecnn"));
      w.findChild<QSpinBox*>(QStringLiteral("batchSize"))->setValue(64);
      qunsetenv("PERCEPTRA_MEMORY_LIMIT_MB");
      w.updateEstimate();
      if (auto* d = w.findChild<QDockWidget*>(QStringLiteral("modelDock"))) d->raise();
      ok &= save(dir, QStringLiteral("estimate-") + theme);
      // A run over the limit (a small limit for the picture): refused with the numbers.
      qputenv("PERCEPTRA_MEMORY_LIMIT_MB", "400");
      w.findChild<QSpinBox*>(QStringLiteral("batchSize"))->setValue(4096);
      w.updateEstimate();
      w.startTraining();
      ok &= save(dir, QStringLiteral("refused-") + theme);
      for (auto* box : w.findChildren<QMessageBox*>(QStringLiteral("refusalBox"))) box->close();
      qunsetenv("PERCEPTRA_MEMORY_LIMIT_MB");
      w.findChild<QSpinBox*>(QStringLiteral("batchSize"))->setValue(64);
      // Problems: a folder with skipped files and broken images.
      const QString messy = messyFolder(dir + QStringLiteral("/data"));
      w.datasetPanel()->openDataset(messy);
      settle([&] { return w.datasetPanel()->currentRequest() == messy && !w.datasetPanel()->isLoading(); }, 60000);
      if (auto* d = w.findChild<QDockWidget*>(QStringLiteral("problemsDock"))) d->raise();
      ok &= save(dir, QStringLiteral("problems-") + theme);
      if (auto* d = w.findChild<QDockWidget*>(QStringLiteral("inspectDock"))) d->raise();
      // Help.
      for (auto [name, show] : std::initializer_list<std::pair<const char*, QWidget* (MainWindow::*)()>>{
               {"shortcuts", &MainWindow::showShortcutSheet},
               {"getting-started", &MainWindow::showGettingStarted},
               {"readme", &MainWindow::showReadme},
               {"about", &MainWindow::showAbout}}) {
        QWidget* win = (w.*show)();
        win->move(w.geometry().center() - win->rect().center());
        ok &= save(dir, QStringLiteral("help-%1-").arg(QLatin1String(name)) + theme);
        win->close();
        pause(100);
      }
    }
    done(ok);
  });
}

}  // namespace perceptra::studio
