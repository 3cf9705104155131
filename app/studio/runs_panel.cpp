#include "app/studio/runs_panel.h"

#include <QApplication>
#include <QClipboard>
#include <QDesktopServices>
#include <QFileInfo>
#include <QMenu>
#include <QUrl>

#include <algorithm>
#include <map>
#include <memory>

#include <QCheckBox>
#include <QComboBox>
#include <QDateTime>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>
#include <cmath>

#include "app/studio/qt_convert.h"
#include "app/studio/run_watch.h"
#include "core/curate/dataset_versions.h"
#include "core/store/store.h"
#include "widgets/theme.h"
#include "widgets/training_plot.h"

#include <qcustomplot.h>

namespace perceptra::studio {

namespace {
constexpr int kIdRole = Qt::UserRole + 1;
constexpr int kStatusRole = Qt::UserRole + 2;

QStandardItem* cell(const QString& text, const QVariant& sortValue = {}) {
  auto* it = new QStandardItem(text);
  it->setEditable(false);
  if (sortValue.isValid()) it->setData(sortValue, Qt::UserRole);
  return it;
}

QColor statusColor(RunStatus s) {
  switch (s) {
    case RunStatus::Finished:
      return QColor(0x3f, 0xb9, 0x50);
    case RunStatus::Running:
      return QColor(0x4c, 0x9a, 0xff);
    case RunStatus::Stopped:
      return QColor(0xd2, 0x99, 0x22);
    case RunStatus::Interrupted:
      return QColor(0xd2, 0x99, 0x22);
    default:
      return QColor(0xe5, 0x53, 0x4b);
  }
}

template <typename T>
T jget(const nlohmann::json& j, const char* key, T fallback) {
  try {
    if (j.is_object() && j.contains(key)) return j.at(key).get<T>();
  } catch (const std::exception&) {}
  return fallback;
}
}  // namespace

QHBoxLayout* RunsPanel::buildToolbar() {
  auto* bar = new QHBoxLayout;
  filter_ = new QLineEdit(this);
  filter_->setObjectName("runsFilter");
  filter_->setPlaceholderText(tr("Filter runs (model, dataset, status, …)"));
  filter_->setClearButtonEnabled(true);
  auto* refresh = new QPushButton(tr("Refresh"), this);
  open_ = new QPushButton(tr("Open in Inspect"), this);
  open_->setObjectName("openRunButton");
  open_->setToolTip(tr("Recompute the confusion matrix and misclassified images from the run's saved model"));
  resume_ = new QPushButton(tr("Resume"), this);
  resume_->setObjectName("resumeRunButton");
  resume_->setToolTip(tr("Continue an interrupted or stopped run from its last checkpoint"));
  delete_ = new QPushButton(tr("Delete…"), this);
  delete_->setObjectName("deleteRunButton");
  group_ = new QCheckBox(tr("Group by sweep"), this);
  group_->setObjectName("groupBySweep");
  group_->setToolTip(tr("Sort by sweep: each sweep's trials together, in trial order"));
  bar->addWidget(filter_, 1);
  bar->addWidget(group_);
  bar->addWidget(refresh);
  connect(refresh, &QPushButton::clicked, this, &RunsPanel::refresh);
  bar->addWidget(open_);
  bar->addWidget(resume_);
  bar->addWidget(delete_);
  return bar;
}

RunsPanel::RunsPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  layout->addLayout(buildToolbar());

  model_ = new QStandardItemModel(0, ColumnCount, this);
  model_->setHorizontalHeaderLabels({tr("ID"), tr("Name"), tr("Model"), tr("Dataset"), tr("LR"), tr("Batch"),
                                     tr("Epochs"), tr("Optimizer"), tr("Best acc."), tr("Status"), tr("Duration"),
                                     tr("Started"), tr("Sweep")});
  proxy_ = new QSortFilterProxyModel(this);
  proxy_->setSourceModel(model_);
  proxy_->setFilterKeyColumn(-1);
  proxy_->setFilterCaseSensitivity(Qt::CaseInsensitive);
  proxy_->setSortRole(Qt::UserRole);

  auto* split = new QSplitter(Qt::Vertical, this);
  table_ = new QTableView(split);
  table_->setObjectName("runsTable");
  table_->setModel(proxy_);
  table_->setSortingEnabled(true);
  table_->sortByColumn(Id, Qt::DescendingOrder);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  table_->verticalHeader()->hide();
  table_->setAlternatingRowColors(true);
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->horizontalHeader()->moveSection(SweepCol, Name + 1);  // shown next to the name
  split->addWidget(table_);

  auto* plotBox = new QWidget(split);
  auto* pl = new QVBoxLayout(plotBox);
  pl->setContentsMargins(0, 0, 0, 0);
  auto* pbar = new QHBoxLayout;
  pbar->addWidget(new QLabel(tr("Compare selected runs:"), plotBox));
  metric_ = new QComboBox(plotBox);
  metric_->setObjectName("overlayMetric");
  metric_->addItem(tr("Validation accuracy"), "valid_accuracy");
  metric_->addItem(tr("Validation loss"), "valid_loss");
  metric_->addItem(tr("Training loss (per batch)"), "train_loss");
  metric_->addItem(tr("Learning rate"), "lr");
  pbar->addWidget(metric_);
  pbar->addStretch(1);
  status_ = new QLabel(plotBox);
  pbar->addWidget(status_);
  pl->addLayout(pbar);
  overlay_ = new widgets::TrainingPlot(plotBox);
  overlay_->setObjectName("runsOverlay");
  overlay_->setTitle(tr("Select runs above (Ctrl/Shift-click for several)"));
  pl->addWidget(overlay_, 1);
  split->addWidget(plotBox);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);
  layout->addWidget(split, 1);

  table_->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(table_, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
    const QModelIndex idx = table_->indexAt(pos);
    if (!idx.isValid()) return;
    const QModelIndex src = proxy_->mapToSource(idx);
    const qint64 id = model_->item(src.row(), Id)->data(kIdRole).toLongLong();
    const std::vector<int64_t> sel = selectedRuns();
    if (std::find(sel.begin(), sel.end(), id) == sel.end()) table_->clearSelection();
    table_->selectRow(idx.row());
    std::unique_ptr<QMenu> menu(runMenu(id));
    menu->exec(table_->viewport()->mapToGlobal(pos));
  });

  connect(filter_, &QLineEdit::textChanged, proxy_, &QSortFilterProxyModel::setFilterFixedString);
  connect(group_, &QCheckBox::toggled, this, &RunsPanel::setGroupBySweep);
  connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
    updateOverlay();
    updateButtons();
  });
  connect(metric_, &QComboBox::currentIndexChanged, this, [this] { updateOverlay(); });
  connect(table_, &QTableView::doubleClicked, this, [this] {
    auto ids = selectedRuns();
    if (ids.size() == 1) emit openRequested(ids[0]);
  });
  connect(open_, &QPushButton::clicked, this, [this] {
    auto ids = selectedRuns();
    if (ids.size() == 1) emit openRequested(ids[0]);
  });
  connect(resume_, &QPushButton::clicked, this, [this] {
    auto ids = selectedRuns();
    if (ids.size() == 1) emit resumeRequested(ids[0]);
  });
  connect(delete_, &QPushButton::clicked, this, [this] {
    auto ids = selectedRuns();
    if (ids.empty()) return;
    const QString what = ids.size() == 1 ? tr("run %1").arg(ids[0]) : tr("%1 runs").arg(ids.size());
    if (QMessageBox::question(this, tr("Delete runs"),
                              tr("Delete %1 with their metrics and files? This cannot be undone.").arg(what)) !=
        QMessageBox::Yes)
      return;
    for (auto id : ids) deleteRun(id, false);
  });
  updateButtons();
}

StoreOptions RunsPanel::readOptions() {
  // Later opens only read, so a trainer writing metrics never makes the UI
  // wait for its lock.
  StoreOptions o;
  o.recover_interrupted = !recovered_;
  recovered_ = true;
  return o;
}

void RunsPanel::setDatabasePath(const std::string& path) {
  db_ = path;
  recovered_ = false;
  refresh();
}

int RunsPanel::runCount() const { return model_->rowCount(); }

void RunsPanel::refresh() {
  if (db_.empty()) return;
  std::vector<int64_t> keep = selectedRuns();
  std::vector<RunSummary> runs;
  std::vector<int64_t> epochsDone;
  std::vector<std::string> badRows;  // corrupt rows: named and skipped, never fatal
  std::map<int64_t, std::string> sweepNames;
  try {
    ExperimentStore store(db_, readOptions());
    runs = store.list_runs(std::nullopt, &badRows);
    for (const auto& sw : store.list_sweeps()) sweepNames[sw.id] = sw.name;
    // Completed epochs = validation points (the summary's epoch is 0-based).
    for (const auto& s : runs) epochsDone.push_back(int64_t(store.metric_series(s.run.id, "valid_accuracy").size()));
  } catch (const std::exception& e) {
    status_->setText(tr("Store: %1").arg(QString::fromStdString(e.what())));
    return;
  }
  model_->removeRows(0, model_->rowCount());
  QLocale loc;
  for (size_t k = 0; k < runs.size(); ++k) {
    const auto& s = runs[k];
    const auto& r = s.run;
    const auto& hp = r.hparams;
    QList<QStandardItem*> row;
    row << cell(QString::number(r.id), qlonglong(r.id));
    row << cell(qs(r.name), qs(r.name));
    const QString model = qs(jget<std::string>(r.model_spec, "name", "?"));
    row << cell(model, model);
    // The dataset and the version of it the run trained on (0: the files as they were).
    const QString data = qs(parse_data_ref(jget<std::string>(hp, "data", "?")).name);
    const QString dataName = QFileInfo(data).fileName().isEmpty() ? data : QFileInfo(data).fileName();
    QStandardItem* dataCell =
        cell(r.dataset_version > 0 ? tr("%1 · v%2").arg(dataName).arg(r.dataset_version) : dataName, data);
    dataCell->setToolTip(r.dataset_version > 0 ? tr("%1, dataset version %2").arg(data).arg(r.dataset_version)
                                               : tr("%1, the files as they were (version 0)").arg(data));
    row << dataCell;
    const auto opt = hp.is_object() && hp.contains("optimizer") ? hp["optimizer"] : nlohmann::json::object();
    const double lr = jget<double>(opt, "lr", 0);
    row << cell(QString::number(lr, 'g', 3), lr);
    const int batch = jget<int>(hp, "batch_size", 0);
    row << cell(QString::number(batch), batch);
    row << cell(QStringLiteral("%1/%2").arg(epochsDone[k]).arg(jget<int>(hp, "epochs", 0)), qlonglong(epochsDone[k]));
    const QString optName = qs(jget<std::string>(opt, "kind", "?"));
    row << cell(optName, optName);
    const double best = s.best_valid_accuracy.value_or(-1);
    row << cell(best >= 0 ? QStringLiteral("%1 %").arg(best * 100, 0, 'f', 2) : QStringLiteral("–"), best);
    const QString status = qs(to_string(r.status));
    auto* st = cell(status, status);
    st->setForeground(statusColor(r.status));
    if (!r.status_message.empty()) st->setToolTip(qs(r.status_message));
    st->setData(int(r.status), kStatusRole);
    row << st;
    row << cell(durationText(s.duration_s), s.duration_s);
    const QDateTime when = QDateTime::fromSecsSinceEpoch(qint64(r.started_at > 0 ? r.started_at : r.created_at));
    row << cell(loc.toString(when, QLocale::ShortFormat), when.toSecsSinceEpoch());
    if (r.sweep_id) {
      // Sorted (descending: newest sweep first) by sweep, then by trial
      // ascending: a sweep's trials stand together in order.
      const auto it = sweepNames.find(*r.sweep_id);
      const QString sweep = it != sweepNames.end() && !it->second.empty() ? qs(it->second) : tr("sweep");
      auto* sc = cell(tr("%1 #%2 · t%3").arg(sweep).arg(*r.sweep_id).arg(r.trial_index),
                      qlonglong(*r.sweep_id) * 1000000 + (999999 - std::clamp<int64_t>(r.trial_index, 0, 999999)));
      sc->setToolTip(tr("Trial %1 of sweep %2 (%3)%4")
                         .arg(r.trial_index)
                         .arg(*r.sweep_id)
                         .arg(sweep)
                         .arg(r.early_terminated ? tr(", early-terminated") : QString()));
      row << sc;
    } else {
      row << cell(QString(), qlonglong(-1));
    }
    row[0]->setData(qlonglong(r.id), kIdRole);
    model_->appendRow(row);
  }
  QString status = tr("%1 run(s) in %2").arg(runs.size()).arg(QFileInfo(qs(db_)).fileName());
  if (!badRows.empty())
    status +=
        tr(" - skipped %1 unreadable row(s): %2").arg(badRows.size()).arg(QString::fromStdString(badRows.front()));
  status_->setText(status);
  selectRuns(keep);
  updateButtons();
}

std::vector<int64_t> RunsPanel::selectedRuns() const {
  std::vector<int64_t> ids;
  for (const auto& idx : table_->selectionModel()->selectedRows(Id))
    ids.push_back(proxy_->mapToSource(idx).data(kIdRole).toLongLong());
  return ids;
}

void RunsPanel::selectRuns(const std::vector<int64_t>& ids) {
  auto* sel = table_->selectionModel();
  QItemSelection s;
  for (int r = 0; r < proxy_->rowCount(); ++r) {
    const qlonglong id = proxy_->mapToSource(proxy_->index(r, Id)).data(kIdRole).toLongLong();
    if (std::find(ids.begin(), ids.end(), id) != ids.end())
      s.select(proxy_->index(r, 0), proxy_->index(r, ColumnCount - 1));
  }
  sel->select(s, QItemSelectionModel::ClearAndSelect);
}

QString RunsPanel::runFolder(int64_t id) const {
  try {
    StoreOptions o;
    o.recover_interrupted = false;  // a read
    ExperimentStore store(db_, o);
    for (const char* kind : {"checkpoint", "model", "best", "last"})
      if (auto a = store.latest_artifact(id, kind)) return QFileInfo(QString::fromStdString(a->path)).absolutePath();
  } catch (const std::exception&) {}
  return QString();
}

QMenu* RunsPanel::runMenu(int64_t id) {
  auto* menu = new QMenu(this);
  menu->setObjectName("runMenu");
  RunStatus status = RunStatus::Finished;
  bool known = false;
  for (int r = 0; r < model_->rowCount(); ++r)
    if (model_->item(r, Id)->data(kIdRole).toLongLong() == id) {
      known = true;
      status = RunStatus(model_->item(r, Status)->data(kStatusRole).toInt());
    }
  auto add = [menu](const QString& name, const QString& text, auto fn) {
    QAction* a = menu->addAction(text, fn);
    a->setObjectName(name);
    return a;
  };
  add("actionRunOpen", tr("Open run %1 (curves, settings, confusion, Inspect)").arg(id), [this, id] {
    emit openRequested(id);
  })->setEnabled(known && status != RunStatus::Running);
  add("actionRunInspect", tr("Inspect its mistakes"), [this, id] {
    emit inspectRequested(id);
  })->setEnabled(known && status != RunStatus::Running);
  add("actionRunWatch", tr("Watch live (read-only)…"), [this, id] {
    watchRun(id);
  })->setEnabled(known && status == RunStatus::Running);
  add("actionRunResume", tr("Resume"), [this, id] {
    emit resumeRequested(id);
  })->setEnabled(known && status != RunStatus::Running && status != RunStatus::Finished);
  menu->addSeparator();
  add("actionRunCopyId", tr("Copy run id"), [id] { QApplication::clipboard()->setText(QString::number(id)); });
  const QString folder = runFolder(id);
  add("actionRunCopyPath", tr("Copy folder path"), [folder] {
    QApplication::clipboard()->setText(folder);
  })->setEnabled(!folder.isEmpty());
  add("actionRunReveal", tr("Reveal in folder"), [folder] {
    QDesktopServices::openUrl(QUrl::fromLocalFile(folder));
  })->setEnabled(!folder.isEmpty() && QFileInfo(folder).isDir());
  menu->addSeparator();
  add("actionRunDelete", tr("Delete…"), [this, id] {
    deleteRun(id);
  })->setEnabled(known && status != RunStatus::Running);
  return menu;
}

void RunsPanel::setGroupBySweep(bool on) {
  if (group_->isChecked() != on) group_->setChecked(on);  // toggled() calls back once
  if (on)
    table_->sortByColumn(SweepCol, Qt::DescendingOrder);
  else
    table_->sortByColumn(Id, Qt::DescendingOrder);
}

QDialog* RunsPanel::watchRun(int64_t id) {
  auto* d = new RunWatchDialog(qs(db_), id, this);
  d->show();
  return d;
}

bool RunsPanel::deleteRun(int64_t id, bool confirm) {
  if (confirm &&
      QMessageBox::question(this, tr("Delete run"),
                            tr("Delete run %1 with its metrics and files? This cannot be undone.").arg(id)) !=
          QMessageBox::Yes)
    return false;
  try {
    ExperimentStore store(db_);
    const auto r = store.run(id);
    if (r.status == RunStatus::Running) {
      emit message(tr("Run %1 is still running; stop it first.").arg(id));
      return false;
    }
    store.delete_run(id, true);
  } catch (const std::exception& e) {
    emit message(tr("Could not delete run %1: %2").arg(id).arg(QString::fromStdString(e.what())));
    return false;
  }
  emit message(tr("Deleted run %1.").arg(id));
  refresh();
  return true;
}

void RunsPanel::updateButtons() {
  auto ids = selectedRuns();
  open_->setEnabled(ids.size() == 1);
  delete_->setEnabled(!ids.empty());
  bool resumable = false;
  if (ids.size() == 1) {
    for (int r = 0; r < model_->rowCount(); ++r)
      if (model_->item(r, Id)->data(kIdRole).toLongLong() == ids[0]) {
        auto s = RunStatus(model_->item(r, Status)->data(kStatusRole).toInt());
        resumable = s == RunStatus::Interrupted || s == RunStatus::Stopped;
      }
  }
  resume_->setEnabled(resumable);
}

void RunsPanel::updateOverlay() {
  overlay_->removeAllSeries();
  auto ids = selectedRuns();
  const std::string metric = metric_->currentData().toString().toStdString();
  overlay_->setTitle(ids.empty() ? tr("Select runs above (Ctrl/Shift-click for several)") : metric_->currentText());
  const bool perEpoch = metric == "valid_accuracy" || metric == "valid_loss";
  overlay_->setXLabel(perEpoch ? tr("epoch") : tr("step"));
  if (perEpoch)
    useIntegerXTicks(overlay_->customPlot());
  else
    overlay_->customPlot()->xAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
  if (ids.empty() || db_.empty()) return;
  try {
    ExperimentStore store(db_, readOptions());
    int k = 0;
    for (auto id : ids) {
      MetricSeries s = store.metric_series(id, metric);
      std::vector<double> x, y;
      for (size_t i = 0; i < s.size(); ++i) {
        x.push_back(perEpoch ? double(s.epochs[i] + 1) : double(s.steps[i]));
        y.push_back(s.values[i]);
      }
      widgets::SeriesStyle style;
      style.color = widgets::seriesColor(k++);
      style.shape = perEpoch ? widgets::SeriesStyle::Shape::LineAndMarkers : widgets::SeriesStyle::Shape::Line;
      if (metric == "train_loss") style.smoothing = 0.9;
      const QString name = tr("run %1").arg(id);
      overlay_->addSeries(name, style);
      overlay_->setSeriesData(name, x, y);
    }
  } catch (const std::exception& e) {
    status_->setText(QString::fromStdString(e.what()));
  }
  overlay_->resetView();
}

}  // namespace perceptra::studio
