#include "app/studio/sweeps_panel.h"

#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <fstream>
#include <sstream>

#include "app/studio/sweep_trials_model.h"
#include "core/store/store.h"
#include "core/sweep/ranking.h"
#include "core/sweep/spec.h"
#include "core/tensor/bounded_json.h"
#include "widgets/parallel_coordinates.h"
#include "widgets/theme.h"
#include "widgets/training_plot.h"

namespace perceptra::studio {

namespace {

// The panel only reads: opening never runs the store's crash recovery (a
// write), so a trainer writing metrics never waits for the UI.
StoreOptions read_only() {
  StoreOptions o;
  o.recover_interrupted = false;
  return o;
}

}  // namespace

SweepsPanel::SweepsPanel(QWidget* parent)
    : QWidget(parent),
      sweepRows_(new QStandardItemModel(0, 5, this)),
      sweeps_(new QTableView(this)),
      model_(new SweepTrialsModel(this)),
      proxy_(new QSortFilterProxyModel(this)),
      trials_(new QTableView(this)),
      plot_(new widgets::ParallelCoordinates(this)),
      curves_(new widgets::TrainingPlot(this)),
      summary_(new QLabel(this)),
      run_(new QPushButton(tr("Run sweep…"), this)),
      stop_(new QPushButton(tr("Stop"), this)),
      openBest_(new QPushButton(tr("Open best run"), this)),
      openSelected_(new QPushButton(tr("Open run"), this)),
      parallel_(new QSpinBox(this)),
      watch_(new QTimer(this)),
      future_(new QFutureWatcher<SweepResult>(this)) {
  sweepRows_->setHorizontalHeaderLabels({tr("Sweep"), tr("Name"), tr("Status"), tr("Trials"), tr("Metric")});
  sweeps_->setModel(sweepRows_);
  sweeps_->setSelectionBehavior(QAbstractItemView::SelectRows);
  sweeps_->setSelectionMode(QAbstractItemView::SingleSelection);
  sweeps_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  sweeps_->verticalHeader()->hide();
  sweeps_->horizontalHeader()->setStretchLastSection(true);
  sweeps_->setMaximumHeight(160);

  proxy_->setSourceModel(model_);
  proxy_->setSortRole(SweepTrialsModel::SortRole);
  trials_->setModel(proxy_);
  trials_->setSortingEnabled(true);
  trials_->setSelectionBehavior(QAbstractItemView::SelectRows);
  trials_->setSelectionMode(QAbstractItemView::SingleSelection);
  trials_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  trials_->verticalHeader()->hide();
  trials_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);

  parallel_->setRange(1, 16);
  parallel_->setValue(2);
  parallel_->setPrefix(tr("parallel "));
  parallel_->setToolTip(tr("Trials at once (the CPU threads are split between them)"));

  auto* top = new QHBoxLayout;
  top->addWidget(run_);
  top->addWidget(parallel_);
  top->addWidget(stop_);
  top->addStretch(1);
  top->addWidget(openSelected_);
  top->addWidget(openBest_);

  auto* right = new QSplitter(Qt::Vertical, this);
  right->addWidget(plot_);
  right->addWidget(curves_);
  curves_->setXLabel(tr("epoch"));
  curves_->setLegendVisible(false);
  auto* split = new QSplitter(Qt::Horizontal, this);
  split->addWidget(trials_);
  split->addWidget(right);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addWidget(sweeps_);
  layout->addWidget(summary_);
  layout->addWidget(split, 1);
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  connect(sweeps_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
    auto rows = sweeps_->selectionModel()->selectedRows();
    qint64 id = rows.isEmpty() ? -1 : sweepRows_->item(rows.front().row(), 0)->data(Qt::UserRole).toLongLong();
    if (id != current_) {
      current_ = id;
      loadTrials();
    }
  });
  connect(trials_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
    plot_->setSelected(selectedRun());
    updateButtons();
    if (selectedRun() > 0) emit runSelected(selectedRun());
  });
  connect(plot_, &widgets::ParallelCoordinates::lineClicked, this, [this](qint64 id) { selectRun(id); });
  connect(run_, &QPushButton::clicked, this, &SweepsPanel::chooseAndStartSweep);
  connect(stop_, &QPushButton::clicked, this, &SweepsPanel::stopSweep);
  connect(openBest_, &QPushButton::clicked, this, [this] {
    if (model_->bestRunId() > 0) emit openRequested(model_->bestRunId());
  });
  connect(openSelected_, &QPushButton::clicked, this, [this] {
    if (selectedRun() > 0) emit openRequested(selectedRun());
  });
  connect(trials_, &QTableView::doubleClicked, this, [this] {
    if (selectedRun() > 0) emit openRequested(selectedRun());
  });
  // Watching: while a sweep runs (here or elsewhere), re-read the store.
  watch_->setInterval(1500);
  connect(watch_, &QTimer::timeout, this, &SweepsPanel::refresh);
  connect(future_, &QFutureWatcher<SweepResult>::finished, this, [this] {
    QString status;
    qint64 id = launched_.load();
    try {
      SweepResult r = future_->result();
      id = r.sweep_id;
      status = QString::fromStdString(r.status);
      emit message(tr("Sweep %1 %2: %3 of %4 trials done%5")
                       .arg(r.sweep_id)
                       .arg(status)
                       .arg(r.done)
                       .arg(r.trials)
                       .arg(r.best_run_id > 0 ? tr(", best run %1").arg(r.best_run_id) : QString()));
    } catch (const std::exception& e) {
      status = QStringLiteral("failed");
      emit message(tr("Sweep failed: %1").arg(QString::fromStdString(e.what())));
    }
    refresh();
    updateButtons();
    emit sweepFinished(id, status);
  });
  updateButtons();
}

SweepsPanel::~SweepsPanel() {
  cancel_ = true;
  future_->waitForFinished();
}

void SweepsPanel::setDatabasePath(const std::string& path) {
  db_ = path;
  current_ = -1;
  refresh();
}

int SweepsPanel::sweepCount() const { return sweepRows_->rowCount(); }

qint64 SweepsPanel::selectedRun() const {
  auto rows = trials_->selectionModel()->selectedRows();
  if (rows.isEmpty()) return -1;
  return proxy_->data(rows.front(), SweepTrialsModel::RunIdRole).toLongLong();
}

bool SweepsPanel::sweepRunning() const { return future_->isRunning(); }

bool SweepsPanel::isWatching() const { return watch_->isActive(); }

void SweepsPanel::setWatchInterval(int ms) { watch_->setInterval(ms); }

void SweepsPanel::refresh() {
  if (db_.empty()) return;
  std::vector<SweepRecord> sweeps;
  try {
    ExperimentStore store(db_, read_only());
    sweeps = store.list_sweeps();
  } catch (const std::exception& e) {
    summary_->setText(tr("Store: %1").arg(QString::fromStdString(e.what())));
    return;
  }
  const qint64 keep = current_;
  bool anyRunning = false;
  {
    QSignalBlocker block(sweeps_->selectionModel());
    sweepRows_->setRowCount(0);
    for (const auto& s : sweeps) {
      QList<QStandardItem*> row;
      auto* id = new QStandardItem(QString::number(s.id));
      id->setData(qlonglong(s.id), Qt::UserRole);
      row << id << new QStandardItem(QString::fromStdString(s.name))
          << new QStandardItem(QString::fromStdString(s.status));
      int64_t size = 0;
      try {
        size = SweepSpec::from_json(s.spec).size();
      } catch (const std::exception&) {}
      row << new QStandardItem(QString::number(size))
          << new QStandardItem(QString::fromStdString(s.spec.value("metric", std::string("valid_accuracy"))));
      sweepRows_->appendRow(row);
      anyRunning = anyRunning || s.status == "running";
    }
  }
  // Keep the selected sweep; else the launched one; else the newest.
  qint64 want = keep > 0 ? keep : launched_.load() > 0 ? launched_.load() : -1;
  int row = -1;
  for (int r = 0; r < sweepRows_->rowCount(); ++r)
    if (sweepRows_->item(r, 0)->data(Qt::UserRole).toLongLong() == want) row = r;
  if (row < 0 && sweepRows_->rowCount() > 0) row = 0;
  current_ = -1;
  if (row >= 0)
    sweeps_->selectRow(row);  // loads the trials
  else
    loadTrials();
  if (anyRunning || sweepRunning()) {
    if (!watch_->isActive()) watch_->start();
  } else {
    watch_->stop();
  }
}

void SweepsPanel::selectSweep(qint64 id) {
  for (int r = 0; r < sweepRows_->rowCount(); ++r)
    if (sweepRows_->item(r, 0)->data(Qt::UserRole).toLongLong() == id) sweeps_->selectRow(r);
}

void SweepsPanel::loadTrials() {
  const qint64 keepRun = selectedRun();
  if (current_ <= 0 || db_.empty()) {
    model_->clear();
    plot_->setData({}, {}, {});
    summary_->clear();
    updateButtons();
    return;
  }
  try {
    ExperimentStore store(db_, read_only());
    SweepRanking r = rank_sweep(store, current_);
    model_->setRanking(r);
    int pruned = 0, failed = 0;
    for (const auto& t : r.trials) {
      pruned += t.state == "early_terminated";
      failed += t.state == "failed" || t.state == "diverged";
    }
    QString best = r.trials.empty() || !r.trials.front().score ? tr("no score yet")
                                                               : tr("best %1 = %2 (run %3, trial %4)")
                                                                     .arg(QString::fromStdString(r.metric))
                                                                     .arg(*r.trials.front().score, 0, 'f', 4)
                                                                     .arg(r.trials.front().summary.run.id)
                                                                     .arg(r.trials.front().summary.run.trial_index);
    summary_->setText(tr("Sweep %1 (%2): %3 trial runs, %4 early-terminated, %5 failed or diverged; %6 (goal %7)")
                          .arg(current_)
                          .arg(QString::fromStdString(r.sweep.status))
                          .arg(int(r.trials.size()))
                          .arg(pruned)
                          .arg(failed)
                          .arg(best)
                          .arg(QString::fromStdString(r.goal)));
  } catch (const std::exception& e) {
    model_->clear();
    summary_->setText(tr("Sweep %1: %2").arg(current_).arg(QString::fromStdString(e.what())));
  }
  loadCurves();
  plot_->setHigherIsBetter(model_->maximize());
  plot_->setData(model_->axes(), model_->lines(), model_->lineIds());
  plot_->setHighlighted(model_->bestRunId());
  // A sweep shown for the first time is ranked by its metric; a refresh of
  // the same sweep keeps the user's sort.
  if (sortedSweep_ != current_ || trials_->horizontalHeader()->sortIndicatorSection() >= model_->columnCount()) {
    sortedSweep_ = current_;
    trials_->sortByColumn(SweepTrialsModel::Score, model_->maximize() ? Qt::DescendingOrder : Qt::AscendingOrder);
  }
  if (keepRun > 0) selectRun(keepRun);
  updateButtons();
}

void SweepsPanel::loadCurves() {
  curves_->removeAllSeries();
  if (current_ <= 0 || model_->rowCount() == 0) return;
  curves_->setTitle(QString::fromStdString(model_->metric()));
  try {
    ExperimentStore store(db_, read_only());
    for (int row = 0; row < model_->rowCount(); ++row) {
      const qint64 id = model_->runIdAt(row);
      MetricSeries s = store.metric_series(id, model_->metric());
      std::vector<double> x, y;
      for (size_t i = 0; i < s.size(); ++i) {
        x.push_back(double(s.epochs[i] + 1));
        y.push_back(s.values[i]);
      }
      widgets::SeriesStyle style;
      style.color = widgets::seriesColor(row);
      style.shape = widgets::SeriesStyle::Shape::LineAndMarkers;
      if (id == model_->bestRunId()) style.width = 3.5;
      if (model_->data(model_->index(row, SweepTrialsModel::State)).toString() == QLatin1String("early_terminated"))
        style.penStyle = Qt::DashLine;
      const QString name =
          tr("trial %1 (run %2)").arg(model_->data(model_->index(row, SweepTrialsModel::Trial)).toString()).arg(id);
      curves_->addSeries(name, style);
      curves_->setSeriesData(name, x, y);
    }
  } catch (const std::exception& e) {
    summary_->setText(summary_->text() + "\n" + QString::fromStdString(e.what()));
  }
  curves_->resetView();
}

void SweepsPanel::selectRun(qint64 run_id) {
  int src = model_->rowOfRun(run_id);
  if (src < 0) return;
  QModelIndex view = proxy_->mapFromSource(model_->index(src, 0));
  trials_->selectRow(view.row());
  trials_->scrollTo(view);
  plot_->setSelected(run_id);
}

void SweepsPanel::updateButtons() {
  const bool running = sweepRunning();
  run_->setEnabled(!running && !db_.empty() && db_ != "-");
  stop_->setEnabled(running);
  openBest_->setEnabled(model_->bestRunId() > 0);
  openSelected_->setEnabled(selectedRun() > 0);
}

void SweepsPanel::chooseAndStartSweep() {
  QString file = QFileDialog::getOpenFileName(this, tr("Sweep spec"), QString(), tr("Sweep specs (*.json)"));
  if (!file.isEmpty()) startSweep(file, parallel_->value());
}

bool SweepsPanel::startSweep(const QString& spec_path, int parallel) {
  const std::string path = spec_path.toStdString();
  nlohmann::json spec;
  try {
    std::ifstream in(path);
    if (!in) throw InputError(path, "cannot open sweep spec");
    std::stringstream text;
    text << in.rdbuf();
    spec = parse_json_bounded(text.str(), path);
  } catch (const std::exception& e) {
    emit message(tr("Sweep not started: %1").arg(QString::fromStdString(e.what())));
    return false;
  }
  return startSweep(spec, parallel, spec_path);
}

bool SweepsPanel::startSweep(const nlohmann::json& spec, int parallel, const QString& origin) {
  if (sweepRunning()) {
    emit message(tr("A sweep is already running; stop it first"));
    return false;
  }
  if (db_.empty() || db_ == "-") {
    emit message(tr("Sweeps need an experiment database"));
    return false;
  }
  std::optional<SweepRunner> runner;
  try {
    SweepOptions o;
    o.db_path = db_;
    o.out_dir = runsDir_;
    o.parallel = parallel;
    o.cancel = &cancel_;
    runner.emplace(SweepSpec::from_json(spec), o);
  } catch (const std::exception& e) {
    emit message(tr("Sweep not started: %1: %2").arg(origin, QString::fromStdString(e.what())));
    return false;
  }
  cancel_ = false;
  launched_ = 0;
  current_ = -1;
  // The runner blocks until the sweep ends: a worker thread. The listener
  // only notes the sweep id; the panel re-reads the store to show progress.
  future_->setFuture(QtConcurrent::run([this, r = std::move(*runner)]() mutable {
    return r.run([this](const nlohmann::json& ev) {
      if (ev.value("event", std::string()) == "sweep_begin") launched_ = ev.value("sweep_id", int64_t(0));
    });
  }));
  watch_->start();
  updateButtons();
  emit message(tr("Sweep started from %1").arg(origin));
  return true;
}

void SweepsPanel::stopSweep() {
  if (!sweepRunning()) return;
  cancel_ = true;  // running trials stop with a checkpoint; `sweep --resume` continues
  emit message(tr("Stopping the sweep after the running trials' current batch…"));
}

}  // namespace perceptra::studio
