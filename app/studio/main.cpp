// The Perceptra studio.
//   perceptra [--dataset NAME|PATH] [--db FILE] [--theme dark|light]
//   perceptra --demo --screenshot FILE.png   (train briefly, grab the window, exit)
#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

#include <cstdio>

#include "app/studio/app_icon.h"
#include "app/studio/dataset_panel.h"
#include "app/studio/main_window.h"
#include "app/studio/studio_tour.h"
#include "core/backend/cpu/cpu_omp_policy.h"

int main(int argc, char** argv) {
  perceptra::apply_omp_wait_policy(argv);  // first: may re-execute the program
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("Perceptra"));
  QApplication::setApplicationName(QStringLiteral("Perceptra"));
  QApplication::setApplicationDisplayName(QStringLiteral("Perceptra Studio"));
  QApplication::setDesktopFileName(QStringLiteral("perceptra"));
  QApplication::setWindowIcon(perceptra::studio::appIcon());

  QCommandLineParser p;
  p.setApplicationDescription(QStringLiteral("Perceptra Studio: train, watch and inspect image classifiers."));
  p.addHelpOption();
  QCommandLineOption dataset(QStringLiteral("dataset"), QStringLiteral("Dataset to open (name or path)."),
                             QStringLiteral("name"));
  QCommandLineOption db(QStringLiteral("db"),
                        QStringLiteral("Experiment database (default ~/.local/share/perceptra/perceptra.db)."),
                        QStringLiteral("file"));
  QCommandLineOption theme(QStringLiteral("theme"), QStringLiteral("dark or light."), QStringLiteral("theme"));
  QCommandLineOption demo(QStringLiteral("demo"),
                          QStringLiteral("Train the default model briefly on the default dataset."));
  QCommandLineOption shot(QStringLiteral("screenshot"),
                          QStringLiteral("With --demo: save a grab of the window and exit."), QStringLiteral("file"));
  QCommandLineOption epochs(QStringLiteral("demo-epochs"), QStringLiteral("Epochs of the demo (default 2)."),
                            QStringLiteral("n"), QStringLiteral("2"));
  QCommandLineOption batches(QStringLiteral("demo-batches"),
                             QStringLiteral("Batches per epoch of the demo (default 300)."), QStringLiteral("n"),
                             QStringLiteral("300"));
  QCommandLineOption tab(QStringLiteral("demo-tab"), QStringLiteral("With --demo: the view to grab, live or runs."),
                         QStringLiteral("tab"), QStringLiteral("live"));
  QCommandLineOption tour(
      QStringLiteral("tour"),
      QStringLiteral("Save the screenshot tour (help, cost estimate, problems; both themes) to a folder and exit."),
      QStringLiteral("dir"));
  p.addOptions({dataset, db, theme, demo, shot, epochs, batches, tab, tour});
  p.process(app);

  perceptra::studio::StudioOptions o;
  o.dbPath = p.value(db);
  o.initialDataset = p.value(dataset);
  if (p.isSet(demo) || p.isSet(tour)) {
    o.restoreLayout = false;  // the demo looks the same everywhere
    if (o.initialDataset.isEmpty()) o.initialDataset = perceptra::studio::DatasetPanel::defaultDataset();
  }
  perceptra::studio::MainWindow w(o);
  if (p.isSet(theme)) w.setThemeByName(p.value(theme));
  w.show();
  if (p.isSet(demo)) {
    const QString file = p.value(shot);
    QObject::connect(&w, &perceptra::studio::MainWindow::demoFinished, &app, [&app, file](bool ok) {
      if (!file.isEmpty()) {
        std::fprintf(stderr, "%s %s\n", ok ? "saved" : "FAILED (saved what there was):", qPrintable(file));
        app.exit(ok ? 0 : 1);
      }
    });
    w.runDemo(file.isEmpty() ? QStringLiteral("/dev/null") : file, p.value(epochs).toInt(), p.value(batches).toInt(),
              p.value(tab));
  }
  if (p.isSet(tour)) {
    perceptra::studio::runTour(w, p.value(tour), [&app](bool ok) { app.exit(ok ? 0 : 1); });
  }
  return app.exec();
}
