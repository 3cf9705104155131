// The Sweeps tab of the main window and its commands (menu Train and the
// command palette): run a sweep from a spec file, show the sweeps.
#include <QAction>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenuBar>
#include <QStatusBar>
#include <QTabWidget>

#include "app/studio/main_window.h"
#include "app/studio/run_watch.h"
#include "app/studio/runs_panel.h"
#include "app/studio/studio_controller.h"
#include "app/studio/sweep_dialog.h"
#include "app/studio/sweeps_panel.h"
#include "app/studio/training_panel.h"

namespace perceptra::studio {

void MainWindow::createSweeps() {
  sweeps_ = new SweepsPanel(central_);
  sweeps_->setObjectName("sweepsPanel");
  central_->addTab(sweeps_, tr("Sweeps"));
  sweeps_->setDatabasePath(databasePath().toStdString());
  sweeps_->setRunsDir(controller_->runsDir().toStdString());
  connect(sweeps_, &SweepsPanel::openRequested, this, [this](qint64 id) { openRun(id); });
  connect(sweeps_, &SweepsPanel::message, this, [this](const QString& m) { statusBar()->showMessage(m, 8000); });
  connect(sweeps_, &SweepsPanel::sweepFinished, runs_, &RunsPanel::refresh);
  // A trial picked in the sweep (table row or plot line) is selected among the runs too.
  connect(sweeps_, &SweepsPanel::runSelected, this, [this](qint64 id) { runs_->selectRuns({int64_t(id)}); });

  auto* show = makeAction("actionShowSweeps", tr("Show sweeps"), QKeySequence(Qt::CTRL | Qt::Key_3),
                          tr("Hyper-parameter sweeps: trials, scores and the parallel-coordinates view"));
  connect(show, &QAction::triggered, this, [this] {
    sweeps_->refresh();
    central_->setCurrentWidget(sweeps_);
  });
  auto* run = makeAction("actionRunSweep", tr("Run sweep…"), {},
                         tr("Run a hyper-parameter sweep from a spec file (as perceptra-cli sweep)"));
  connect(run, &QAction::triggered, this, [this] {
    central_->setCurrentWidget(sweeps_);
    sweeps_->setRunsDir(controller_->runsDir().toStdString());
    sweeps_->chooseAndStartSweep();
  });
  // A sweep over the current settings (data, model, training), its
  // parameters picked in a dialog.
  auto* fresh = makeAction("actionNewSweep", tr("New sweep…"), {},
                           tr("Vary learning rate, batch size, ... over the current settings and rank the trials"));
  connect(fresh, &QAction::triggered, this, [this] {
    SweepDialog d(currentConfig(), this);
    if (d.exec() != QDialog::Accepted) return;
    central_->setCurrentWidget(sweeps_);
    sweeps_->setRunsDir(controller_->runsDir().toStdString());
    sweeps_->startSweep(d.spec(), d.parallel(), tr("the New sweep dialog"));
  });
  training_->setSweepAction(fresh);  // the Training panel's "Sweep…" button

  // A run another process trains (perceptra-cli, rank 0 of an mpirun job)
  // in any store: watched read-only.
  auto* watch = makeAction("actionWatchRun", tr("Watch a running run…"), {},
                           tr("Follow a run another process is training, from its database (read-only)"));
  connect(watch, &QAction::triggered, this, [this] {
    const QString db =
        QFileDialog::getOpenFileName(this, tr("Experiment database to watch"), QFileInfo(databasePath()).absolutePath(),
                                     tr("Databases (*.db *.sqlite);;All files (*)"));
    if (db.isEmpty()) return;
    watchRunIn(db);
  });
  for (QMenu* m : menuBar()->findChildren<QMenu*>())
    if (m->title() == tr("&Train")) {
      m->addSeparator();
      m->addActions({fresh, run});
    } else if (m->title() == tr("&View")) {
      m->addAction(show);
      m->addAction(watch);
    }
}

QDialog* MainWindow::watchRunIn(const QString& db, qint64 runId) {
  // The run: the one asked for, else the newest running one, else the newest.
  if (runId <= 0) {
    try {
      StoreOptions o;
      o.read_only = true;
      o.recover_interrupted = false;
      ExperimentStore store(db.toStdString(), o);
      const auto runs = store.list_runs();  // newest first
      for (const auto& s : runs)
        if (s.run.status == RunStatus::Running) {
          runId = s.run.id;
          break;
        }
      if (runId <= 0 && !runs.empty()) runId = runs.front().run.id;
    } catch (const std::exception& e) {
      statusBar()->showMessage(tr("Cannot watch %1: %2").arg(db, QString::fromStdString(e.what())), 8000);
      return nullptr;
    }
    if (runId <= 0) {
      statusBar()->showMessage(tr("%1 has no runs to watch.").arg(db), 8000);
      return nullptr;
    }
  }
  auto* d = new RunWatchDialog(db, runId, this);
  d->show();
  return d;
}

}  // namespace perceptra::studio
