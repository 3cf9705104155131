// The scripted demo (perceptra --demo): a short training run, the worst
// mistake selected in Inspect, a grab of the window.
#include <QTabWidget>
#include <QTimer>
#include <cstdio>

#include "app/studio/current_run.h"
#include "app/studio/dataset_panel.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/live_panel.h"
#include "app/studio/main_window.h"
#include "app/studio/model_panel.h"
#include "app/studio/qt_convert.h"
#include "app/studio/runs_panel.h"
#include "app/studio/studio_controller.h"
#include "app/studio/training_session.h"
#include "app/studio/training_panel.h"

namespace perceptra::studio {

void MainWindow::runDemo(const QString& screenshotPath, int epochs, int maxBatches, const QString& tab) {
  auto done = std::make_shared<bool>(false);
  // The demo also reports how responsive the UI stayed (largest timer gap).
  auto* heart = new QTimer(this);
  auto beat = std::make_shared<QElapsedTimer>();
  auto maxGap = std::make_shared<qint64>(0);
  heart->setInterval(20);
  connect(heart, &QTimer::timeout, this, [beat, maxGap] {
    if (beat->isValid())
      *maxGap = std::max(*maxGap, beat->restart());
    else
      beat->start();
  });
  heart->start();
  auto finish = [this, screenshotPath, done, tab, heart, maxGap](bool ok) {
    if (*done) return;
    *done = true;
    heart->stop();
    std::fprintf(stderr, "demo: %d epoch(s), %lld batches, largest UI timer gap %lld ms\n", epochsSeen_,
                 static_cast<long long>(batchesSeen_), static_cast<long long>(*maxGap));
    if (tab == QLatin1String("runs")) {
      runs_->refresh();
      runs_->selectRuns({runId_});
      central_->setCurrentWidget(runs_);
    } else {
      central_->setCurrentWidget(live_);
    }
    QTimer::singleShot(800, this, [this, screenshotPath, ok] {
      QPixmap shot = grab();
      bool saved = shot.save(screenshotPath);
      emit demoFinished(ok && saved);
    });
  };
  auto begin = [this, epochs, maxBatches, finish] {
    training_->setEpochs(epochs);
    training_->setBatchSize(64);
    training_->setLearningRate(0.02);
    model_->selectBuiltin(QStringLiteral("simplecnn"));
    connect(
        this, &MainWindow::trainingEnded, this,
        [this, finish] {
          // Wait for the final predictions, select the worst mistake, then grab.
          auto pick = [this, finish] {
            if (inspect_->shownItems().empty()) return finish(true);
            connect(
                inspect_, &InspectPanel::detailShown, this, [finish] { finish(true); }, Qt::SingleShotConnection);
            inspect_->selectItem(0);
          };
          if (inspect_->busy() || !inspect_->predictions())
            connect(inspect_, &InspectPanel::predictionsReady, this, pick, Qt::SingleShotConnection);
          else
            pick();
        },
        Qt::SingleShotConnection);
    // The demo caps the batches per epoch so it takes a minute, not an hour.
    TrainConfig c = currentConfig();
    c.max_batches = maxBatches;
    session()->setProbe(dataset_->source()->train, 0);
    QString err;
    if (!controller_->startTraining(c, dataset_->source(), &err)) {
      training_->setStatus(err);
      return finish(false);
    }
    runClock_.start();
    epochs_ = c.epochs;
    // The run the views follow, as MainWindow::startTraining sets it: without
    // it Inspect ignores the epochs' models and the demo waits forever.
    current_->beginLive(c, toQStringList(dataset_->source()->class_names));
    beginRunViews(toQStringList(dataset_->source()->class_names), tr("Training…"));
    updateActions();
  };
  QTimer::singleShot(240000, this, [finish] { finish(false); });  // never hang
  if (dataset_->source() && !dataset_->isLoading())
    begin();
  else
    connect(dataset_, &DatasetPanel::datasetOpened, this, begin, Qt::SingleShotConnection);
}

}  // namespace perceptra::studio
