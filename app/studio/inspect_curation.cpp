// InspectPanel, the part that fixes the data: the list chooser (top losses,
// suspects, duplicates), marks on relabelled/excluded images, keyboard and
// context-menu actions, undo, "Retrain on this version" and the per-image
// history across runs. The actions go through CurationSession (one dataset
// version each); the lists and the history are computed off the UI thread.
#include <QApplication>
#include <QItemSelectionModel>
#include <QClipboard>
#include <QComboBox>
#include <QDesktopServices>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QListView>
#include <QMenu>
#include <QPushButton>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrent>

#include <algorithm>

#include "app/studio/curate_session.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/qt_convert.h"
#include "core/curate/duplicates.h"
#include "core/curate/ledger.h"
#include "core/curate/suspects.h"
#include "core/data/curated_dataset.h"
#include "core/store/store.h"
#include "widgets/activation_view.h"
#include "widgets/image_grid.h"
#include "widgets/probability_bars.h"

namespace perceptra::studio {

namespace {

constexpr int kMaxListed = 300;

QString className(const std::vector<std::string>& names, int c) {
  return c >= 0 && size_t(c) < names.size() ? qs(names[size_t(c)]) : QString::number(c);
}

// The most suspicious images of the dataset from every ledger of its runs
// (the newest run's images ranked, the others agreeing or not).
InspectListResult suspectsList(const std::string& db, const std::string& key,
                               std::shared_ptr<const SourceIdentities> ids, std::vector<std::string> names,
                               quint64 gen) {
  InspectListResult r;
  r.generation = gen;
  try {
    ExperimentStore st(db);
    auto recs = st.ledgers(key, true);
    if (recs.empty()) {
      r.error = QObject::tr(
          "No ledger for this dataset yet: every finished run writes one (its final model's "
          "verdict on each image).");
      return r;
    }
    std::vector<std::vector<LedgerEntry>> decoded;
    for (const auto& rec : recs)
      decoded.push_back(decode_ledger(rec.blob, db + ": ledger of run " + std::to_string(rec.run_id)));
    std::vector<LedgerOfRun> others;
    for (size_t i = 0; i + 1 < recs.size(); ++i) others.push_back({recs[i].run_id, &decoded[i]});
    const auto ranked = rank_suspects({recs.back().run_id, &decoded.back()}, others, kMaxListed);
    std::unordered_map<std::string, std::pair<bool, int64_t>> where;
    for (bool test : {false, true})
      for (size_t i = 0; i < ids->part(test).size(); ++i)
        where.emplace(ids->part(test)[i].image, std::pair{test, int64_t(i)});
    for (const auto& s : ranked) {
      auto it = where.find(s.image);
      if (it == where.end()) continue;  // no longer in the dataset
      const ImageIdentity& id = ids->part(it->second.first)[size_t(it->second.second)];
      if (id.hash != s.hash) continue;  // replaced since
      InspectEntry e;
      e.image = s.image;
      e.testPart = it->second.first;
      e.baseIndex = it->second.second;
      e.label = s.label;
      e.predicted = s.predicted;
      e.caption = QObject::tr("%1\n→ %2 p %3\nwrong %4/%5")
                      .arg(className(names, s.label), className(names, s.predicted))
                      .arg(s.mean_p_label, 0, 'f', 2)
                      .arg(s.runs_wrong)
                      .arg(s.runs);
      e.toolTip = QObject::tr("%1 · labelled %2 · predicted %3 · mean p(label) %4 · wrong in %5 of %6 runs (%7 side)")
                      .arg(qs(s.image), className(names, s.label), className(names, s.predicted))
                      .arg(s.mean_p_label, 0, 'f', 3)
                      .arg(s.runs_wrong)
                      .arg(s.runs)
                      .arg(s.valid ? QObject::tr("validation") : QObject::tr("training"));
      e.accent = QColor(0xe5, 0x8e, 0x26);
      r.entries.push_back(std::move(e));
    }
    r.header = QObject::tr(
                   "<b>Suspects</b> · likely label errors from %1 run(s) of this dataset, most "
                   "suspicious first (%2 shown)")
                   .arg(recs.size())
                   .arg(r.entries.size());
  } catch (const std::exception& e) {
    r.error = QString::fromStdString(e.what());
  }
  return r;
}

InspectListResult duplicatesList(std::shared_ptr<const PreparedData> data, std::shared_ptr<const SourceIdentities> ids,
                                 quint64 gen) {
  InspectListResult r;
  r.generation = gen;
  try {
    const DuplicateReport rep = find_duplicates(data->source, *ids, data->tv.split);
    int g = 0;
    int64_t leaks = 0, cross = 0;
    for (const auto& group : rep.groups) {
      ++g;
      leaks += group.leak;
      cross += group.cross_class;
      const QString kind = group.exact ? QObject::tr("exact") : QObject::tr("near");
      QString flags = group.leak          ? QObject::tr("train/valid leak")
                      : group.cross_class ? QObject::tr("labels differ")
                                          : QString();
      for (const auto& m : group.members) {
        if (int(r.entries.size()) >= kMaxListed) break;
        InspectEntry e;
        e.image = m.image;
        e.testPart = m.test_part;
        e.baseIndex = m.index;
        e.label = m.label;
        e.caption = QObject::tr("group %1 · %2\n%3 · %4\n%5")
                        .arg(g)
                        .arg(kind, className(data->source.class_names, m.label),
                             m.valid ? QObject::tr("valid") : QObject::tr("train"), flags);
        e.toolTip = QObject::tr("%1 · duplicate group %2 (%3%4)")
                        .arg(qs(m.image))
                        .arg(g)
                        .arg(kind, flags.isEmpty() ? QString() : QStringLiteral(", ") + flags);
        e.accent = group.leak          ? QColor(0xe5, 0x53, 0x4b)
                   : group.cross_class ? QColor(0xe5, 0x8e, 0x26)
                                       : QColor(0x8a, 0x8a, 0x8a);
        r.entries.push_back(std::move(e));
      }
    }
    r.header = QObject::tr(
                   "<b>Duplicates</b> · %1 groups in %2 images (%3 across the train/validation "
                   "split, %4 with different labels)")
                   .arg(rep.groups.size())
                   .arg(rep.images)
                   .arg(leaks)
                   .arg(cross);
  } catch (const std::exception& e) {
    r.error = QString::fromStdString(e.what());
  }
  return r;
}

ImageHistoryResult historyOf(const std::string& db, const std::string& key, const std::string& image,
                             std::vector<std::string> names) {
  ImageHistoryResult r;
  r.image = image;
  try {
    ExperimentStore st(db);
    for (const auto& h : image_history(st, key, image))
      r.rows.push_back({QString::number(h.run_id), QString::number(h.dataset_version),
                        h.entry.valid ? QObject::tr("valid") : QObject::tr("train"), className(names, h.entry.label),
                        className(names, h.entry.predicted), QString::number(h.entry.p_label, 'f', 3),
                        QString::number(h.entry.loss, 'f', 3)});
  } catch (const std::exception& e) {
    r.error = QString::fromStdString(e.what());
  }
  return r;
}

}  // namespace

void InspectPanel::buildCurationUi(QLayout* head, QLayout* detail) {
  listBox_ = new QComboBox(this);
  listBox_->setObjectName("inspectList");
  listBox_->addItems({tr("Top losses"), tr("Suspects"), tr("Duplicates")});
  listBox_->setToolTip(
      tr("Top losses: the validation images the model gets most wrong.\n"
         "Suspects: likely label errors across the dataset, from every run's ledger.\n"
         "Duplicates: identical or almost identical images (leaks across the split)."));
  head->addWidget(listBox_);
  auto* bar = new QHBoxLayout;
  version_ = new QLabel(this);
  version_->setObjectName("datasetVersion");
  notice_ = new QLabel(this);
  notice_->setObjectName("curationNotice");
  notice_->setWordWrap(true);
  retrain_ = new QPushButton(tr("Retrain on this version"), this);
  retrain_->setObjectName("retrainOnVersion");
  retrain_->setToolTip(tr("Train again with the relabelled and excluded images (the files are not changed)"));
  retrain_->setEnabled(false);
  bar->addWidget(version_, 1);
  bar->addWidget(retrain_);
  if (auto* v = qobject_cast<QVBoxLayout*>(layout())) {
    v->insertLayout(1, bar);
    v->insertWidget(2, notice_);
  }
  notice_->setText(tr("Select images, then 1–9 relabel, Delete excludes, Ctrl+Z undoes (right click for more)."));

  history_ = new QTreeWidget(this);
  history_->setObjectName("imageHistory");
  history_->setRootIsDecorated(false);
  history_->setHeaderLabels(
      {tr("Run"), tr("Version"), tr("Side"), tr("Label"), tr("Predicted"), tr("p(label)"), tr("Loss")});
  history_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  history_->setToolTip(tr("This image in every run of the dataset: what each run's final model said"));
  history_->setMaximumHeight(120);
  detail->addWidget(history_);

  grid_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  grid_->view()->installEventFilter(this);
  grid_->view()->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(grid_->view(), &QWidget::customContextMenuRequested, this, &InspectPanel::showContextMenu);
  connect(listBox_, &QComboBox::currentIndexChanged, this, [this](int i) { setList(InspectList(i)); });
  connect(retrain_, &QPushButton::clicked, this, [this] {
    if (curation_->latestVersion() > 0) emit retrainRequested(curation_->versionedDataRef());
  });
  connect(curation_, &CurationSession::changed, this, &InspectPanel::refreshMarks);
  connect(curation_, &CurationSession::identitiesReady, this, &InspectPanel::resolveImages);
  connect(curation_, &CurationSession::failed, this, [this](const QString& m) { notice_->setText(m); });
  connect(&listWatcher_, &QFutureWatcher<InspectListResult>::finished, this, &InspectPanel::listFinished);
  connect(&historyWatcher_, &QFutureWatcher<ImageHistoryResult>::finished, this, [this] {
    ImageHistoryResult r = historyWatcher_.result();
    if (r.image != historyImage_) {
      loadHistory(historyImage_);  // a newer selection came meanwhile
      return;
    }
    history_->clear();
    for (const auto& row : r.rows) {
      QStringList cells;
      for (const auto& c : row) cells << c;
      history_->addTopLevelItem(new QTreeWidgetItem(cells));
    }
    if (!r.error.isEmpty()) history_->addTopLevelItem(new QTreeWidgetItem(QStringList{tr("error: %1").arg(r.error)}));
    emit historyShown(qs(r.image));
  });
}

void InspectPanel::setDatabasePath(const QString& path) { curation_->setDatabasePath(path); }

void InspectPanel::setList(InspectList list) {
  list_ = list;
  if (listBox_->currentIndex() != int(list)) {
    QSignalBlocker block(listBox_);
    listBox_->setCurrentIndex(int(list));
  }
  if (list == InspectList::TopLosses) {
    clearFilter_->setVisible(cellTrue_ >= 0);
    fillGrid();
    return;
  }
  clearFilter_->hide();
  startList();
}

void InspectPanel::startList() {
  entries_.clear();
  grid_->clear();
  if (!data_) {
    header_->setText(tr("Train or open a run first."));
    return;
  }
  if (!curation_->ready()) {
    header_->setText(tr("Reading the images…"));
    return;  // resolveImages() starts the list when the identities are known
  }
  const quint64 gen = ++generation_;
  auto ids = curation_->sharedIdentities();
  if (list_ == InspectList::Suspects) {
    header_->setText(tr("Ranking suspects…"));
    listWatcher_.setFuture(QtConcurrent::run(suspectsList, curation_->databasePath().toStdString(),
                                             curation_->datasetKey(), ids, data_->source.class_names, gen));
  } else {
    header_->setText(tr("Looking for duplicates…"));
    listWatcher_.setFuture(QtConcurrent::run(duplicatesList, data_, ids, gen));
  }
}

void InspectPanel::listFinished() {
  InspectListResult r = listWatcher_.result();
  if (r.generation != generation_ || list_ == InspectList::TopLosses) return;
  if (!r.error.isEmpty()) {
    header_->setText(r.error.toHtmlEscaped());
    return;
  }
  header_->setText(r.header);
  entries_ = std::move(r.entries);
  showEntries();
  if (entries_.empty()) grid_->setPlaceholderText(tr("Nothing found"));
  emit listReady();
}

QString InspectPanel::markText(const InspectEntry& e) const {
  const ImageOverride* o = e.image.empty() ? nullptr : curation_->overrideOf(e.image);
  if (!o) return {};
  if (o->excluded) return tr("⊘ excluded");
  return tr("✎ now %1").arg(o->label >= 0 && o->label < names_.size() ? names_[o->label] : QString::number(o->label));
}

void InspectPanel::showEntries() {
  const Dataset* train = data_ && data_->source.train ? &uncurated(*data_->source.train) : nullptr;
  const Dataset* test = data_ && data_->source.test ? &uncurated(*data_->source.test) : nullptr;
  std::vector<widgets::ImageGridItem> items;
  items.reserve(entries_.size());
  for (auto& e : entries_) {
    widgets::ImageGridItem g;
    const Dataset* d = e.testPart ? test : train;
    if (d && e.baseIndex >= 0 && e.baseIndex < d->size()) g.image = sampleImage(*d, e.baseIndex);
    const QString mark = markText(e);
    e.shownMark = mark;
    g.caption = mark.isEmpty() ? e.caption : e.caption + QLatin1Char('\n') + mark;
    g.toolTip = mark.isEmpty() ? e.toolTip : e.toolTip + QStringLiteral(" · ") + mark;
    g.accent = mark.isEmpty() ? e.accent : QColor(0x3b, 0x82, 0xf6);
    g.data = QVariant::fromValue<qlonglong>(e.lossPosition);
    items.push_back(std::move(g));
  }
  grid_->setCaptionLines(4);
  grid_->setItems(std::move(items));
}

// The marks of the latest version on every shown image (the grid keeps its
// selection and scroll position).
void InspectPanel::refreshMarks() {
  const int64_t v = curation_->latestVersion();
  int64_t relabelled = 0, excluded = 0;
  for (const auto& [image, o] : curation_->state()) ++(o.excluded ? excluded : relabelled);
  version_->setText(v > 0 ? tr("Dataset version %1 · %2 relabelled · %3 excluded (train on %4)")
                                .arg(v)
                                .arg(relabelled)
                                .arg(excluded)
                                .arg(curation_->versionedDataRef())
                          : tr("Dataset version 0 (the files as they are)"));
  // The version the shown data is (a run trained on an older one shows that).
  if (data_ && data_->dataset_version != v)
    version_->setText(version_->text() + tr(" · shown: version %1").arg(data_->dataset_version));
  retrain_->setEnabled(v > 0);
  // Only the rows whose mark changed (this runs after every epoch's
  // predictions; most rows keep theirs).
  const std::vector<int> selected = grid_->selectedIndexes();
  bool any = false;
  for (size_t i = 0; i < entries_.size() && int(i) < grid_->count(); ++i) {
    InspectEntry& e = entries_[i];
    const QString mark = markText(e);
    if (mark == e.shownMark) continue;
    e.shownMark = mark;
    any = true;
    widgets::ImageGridItem g = grid_->item(int(i));
    g.caption = mark.isEmpty() ? e.caption : e.caption + QLatin1Char('\n') + mark;
    g.toolTip = mark.isEmpty() ? e.toolTip : e.toolTip + QStringLiteral(" · ") + mark;
    g.accent = mark.isEmpty() ? e.accent : QColor(0x3b, 0x82, 0xf6);
    grid_->updateItem(int(i), std::move(g));
  }
  if (any) selectRows(selected);
}

// The identities arrived: name the shown images, and start a list that waited.
void InspectPanel::resolveImages() {
  for (auto& e : entries_)
    if (e.image.empty()) e.image = curation_->imageAt(e.testPart, e.baseIndex);
  refreshMarks();
  if (list_ != InspectList::TopLosses && entries_.empty()) startList();
}

std::vector<int> InspectPanel::selectedRows() const { return grid_->selectedIndexes(); }

void InspectPanel::selectRows(const std::vector<int>& rows) {
  auto* sel = grid_->view()->selectionModel();
  sel->clearSelection();
  for (int r : rows)
    if (r >= 0 && r < grid_->count()) sel->select(grid_->model()->index(r, 0), QItemSelectionModel::Select);
}

std::vector<std::string> InspectPanel::selectedImages() const {
  std::vector<std::string> out;
  for (int r : grid_->selectedIndexes())
    if (r >= 0 && r < int(entries_.size()) && !entries_[size_t(r)].image.empty())
      out.push_back(entries_[size_t(r)].image);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool InspectPanel::reportAction(bool ok, const QString& error) {
  notice_->setText(ok ? tr("Saved as dataset version %1. Ctrl+Z undoes.").arg(curation_->latestVersion()) : error);
  return ok;
}

bool InspectPanel::relabelSelected(int cls) {
  if (cls < 0 || cls >= names_.size()) return reportAction(false, tr("No class %1.").arg(cls + 1));
  QString err;
  const bool ok = curation_->relabel(selectedImages(), cls, &err);
  return reportAction(ok, err);
}

bool InspectPanel::excludeSelected() {
  QString err;
  const bool ok = curation_->exclude(selectedImages(), &err);
  return reportAction(ok, err);
}

bool InspectPanel::restoreSelected() {
  QString err;
  const bool ok = curation_->restore(selectedImages(), &err);
  return reportAction(ok, err);
}

bool InspectPanel::undo() {
  QString err;
  const bool ok = curation_->undo(&err);
  return reportAction(ok, err);
}

bool InspectPanel::eventFilter(QObject* watched, QEvent* event) {
  if (watched == grid_->view() && event->type() == QEvent::KeyPress) {
    auto* k = static_cast<QKeyEvent*>(event);
    if (k->matches(QKeySequence::Undo)) return undo(), true;
    if (k->key() == Qt::Key_Delete || k->key() == Qt::Key_Backspace) return excludeSelected(), true;
    // 1..9 are the first nine classes, 0 the tenth.
    if (k->key() >= Qt::Key_0 && k->key() <= Qt::Key_9 && !(k->modifiers() & Qt::ControlModifier)) {
      const int digit = k->key() - Qt::Key_0;
      relabelSelected(digit == 0 ? 9 : digit - 1);
      return true;
    }
  }
  return QWidget::eventFilter(watched, event);
}

void InspectPanel::showPlainDetail(const InspectEntry& e) {
  detailPos_ = -1;
  detailReady_ = false;
  detail_ = DetailResult{};
  const Dataset* d = nullptr;
  if (data_) {
    const auto& part = e.testPart ? data_->source.test : data_->source.train;
    if (part) d = &uncurated(*part);
  }
  if (d && e.baseIndex >= 0 && e.baseIndex < d->size()) detail_.image = sampleImage(*d, e.baseIndex);
  auto name = [this](int c) { return c >= 0 && c < names_.size() ? names_[c] : QString::number(c); };
  const QString path = curation_->filePath(e.image);
  detailText_->setText(tr("<b>%1</b> · labelled <b>%2</b>%3")
                           .arg(qs(e.image).toHtmlEscaped(), name(e.label).toHtmlEscaped())
                           .arg(path.isEmpty() ? QString() : QStringLiteral("<br>") + path.toHtmlEscaped()));
  bars_->clear();
  activations_->clear();
  useAsProbe_->setEnabled(false);
  showDetailImage();
}

void InspectPanel::loadHistory(const std::string& image) {
  historyImage_ = image;
  if (image.empty() || curation_->datasetKey().empty()) {
    history_->clear();
    return;
  }
  if (historyWatcher_.isRunning()) return;  // picked up when the running one ends
  historyWatcher_.setFuture(QtConcurrent::run(historyOf, curation_->databasePath().toStdString(),
                                              curation_->datasetKey(), image,
                                              data_ ? data_->source.class_names : std::vector<std::string>{}));
}

QMenu* InspectPanel::contextMenu(int row) {
  if (row < 0 || row >= int(entries_.size())) return nullptr;
  if (!grid_->view()->selectionModel()->isRowSelected(row, {})) selectRows({row});
  const InspectEntry e = entries_[size_t(row)];
  auto* menu = new QMenu(this);
  const QString path = curation_->filePath(e.image);
  const QString shown = path.isEmpty() ? tr("index %1").arg(qs(e.image)) : path;
  auto* where = menu->addAction(shown);
  where->setEnabled(false);
  auto* open =
      menu->addAction(tr("Open image"), this, [path] { QDesktopServices::openUrl(QUrl::fromLocalFile(path)); });
  open->setObjectName("openImage");
  open->setEnabled(!path.isEmpty());
  auto* copy = menu->addAction(path.isEmpty() ? tr("Copy index") : tr("Copy path"), this,
                               [path, e] { QApplication::clipboard()->setText(path.isEmpty() ? qs(e.image) : path); });
  copy->setObjectName("copyPath");
  auto* reveal = menu->addAction(tr("Reveal in folder"), this, [path] {
    QDesktopServices::openUrl(QUrl::fromLocalFile(QFileInfo(path).absolutePath()));
  });
  reveal->setObjectName("revealImage");
  reveal->setEnabled(!path.isEmpty());
  if (e.lossPosition >= 0 && data_) {
    auto* probe = menu->addAction(tr("Use as probe"), this, [this, e] {
      if (!predictions_ || e.lossPosition >= predictions_->size()) return;
      emit probeRequested(data_->tv.valid_data, predictions_->index[size_t(e.lossPosition)]);
    });
    probe->setObjectName("useAsProbeAction");
  }
  menu->addSeparator();
  auto* relabel = menu->addMenu(tr("Relabel as"));
  relabel->setObjectName("relabelMenu");
  for (int c = 0; c < names_.size(); ++c) {
    auto* a = relabel->addAction(c < 10 ? tr("%1\t%2").arg(names_[c]).arg((c + 1) % 10) : names_[c], this,
                                 [this, c] { relabelSelected(c); });
    a->setObjectName(QStringLiteral("relabelAs%1").arg(c));
  }
  auto* ex = menu->addAction(tr("Exclude\tDelete"), this, [this] { excludeSelected(); });
  ex->setObjectName("excludeImages");
  auto* re = menu->addAction(tr("Restore original"), this, [this] { restoreSelected(); });
  re->setObjectName("restoreImages");
  re->setEnabled(curation_->overrideOf(e.image) != nullptr);
  auto* un = menu->addAction(tr("Undo\tCtrl+Z"), this, [this] { undo(); });
  un->setObjectName("undoCuration");
  un->setEnabled(curation_->canUndo());
  const bool ready = curation_->ready();
  relabel->setEnabled(ready);
  ex->setEnabled(ready);
  return menu;
}

void InspectPanel::showContextMenu(const QPoint& pos) {
  const QModelIndex idx = grid_->view()->indexAt(pos);
  if (!idx.isValid()) return;
  QMenu* menu = contextMenu(idx.row());
  if (!menu) return;
  menu->setAttribute(Qt::WA_DeleteOnClose);
  menu->popup(grid_->view()->viewport()->mapToGlobal(pos));
}

}  // namespace perceptra::studio
