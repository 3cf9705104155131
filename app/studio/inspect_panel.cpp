#include "app/studio/inspect_panel.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrent>

#include "app/studio/curate_session.h"
#include "app/studio/qt_convert.h"
#include "core/data/curated_dataset.h"
#include "core/interp/activations.h"
#include "core/interp/live_snapshot.h"
#include "core/interp/saliency.h"
#include "core/nn/model.h"
#include "widgets/activation_view.h"
#include "widgets/image_grid.h"
#include "widgets/probability_bars.h"

namespace perceptra::studio {

namespace {
constexpr int kMaxShown = 300;  // the grid shows the worst 300 (all of a cell up to that)

DetailResult computeDetail(std::shared_ptr<SharedModel> sm, std::shared_ptr<const PreparedData> data, int64_t position,
                           int64_t datasetIndex, quint64 gen) {
  DetailResult r;
  r.position = position;
  r.generation = gen;
  try {
    const Dataset& ds = *data->tv.valid_data;
    const NormStats& norm = data->tv.norm;
    const Shape s = ds.sample_shape();
    std::vector<float> px(size_t(s.numel()));
    ds.image(datasetIndex, px.data());
    Image8 base = image_from_chw(px.data(), int(s[0]), int(s[1]), int(s[2]));
    r.image = toQImage(base);
    std::lock_guard<std::mutex> lock(sm->mutex);
    Model& m = *sm->model;
    Tensor x = make_probe_batch(ds, {datasetIndex}, norm, m.device());
    HeatMap h;
    if (default_gradcam_layer(m) >= 0) {
      h = grad_cam(m, x);
      r.camLayer = QStringLiteral("Grad-CAM at %1").arg(qs(h.layer_name));
    } else {
      h = input_gradient_saliency(m, x);
      r.camLayer = QStringLiteral("input-gradient saliency");
    }
    r.overlay = toQImage(overlay_heatmap(base, h.values, ColorMap::Magma, 0.65f));
    r.probabilities = h.probabilities;
    r.activations = std::make_shared<const LiveSnapshot>(make_live_snapshot(m, ds, datasetIndex, norm, false));
  } catch (const std::exception& e) {
    r.error = QString::fromStdString(e.what());
  }
  return r;
}
}  // namespace

InspectPanel::InspectPanel(QWidget* parent) : QWidget(parent), curation_(new CurationSession(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  auto* head = new QHBoxLayout;
  header_ = new QLabel(tr("Misclassified images appear here after the first epoch."), this);
  header_->setObjectName("inspectHeader");
  header_->setWordWrap(true);
  clearFilter_ = new QPushButton(tr("Show top losses"), this);
  clearFilter_->setObjectName("clearCellFilter");
  clearFilter_->setToolTip(tr("Back to all misclassified images, highest loss first"));
  clearFilter_->hide();
  head->addWidget(header_, 1);
  head->addWidget(clearFilter_);
  layout->addLayout(head);

  auto* split = new QSplitter(Qt::Vertical, this);
  grid_ = new widgets::ImageGrid(split);
  grid_->setObjectName("misclassifiedGrid");
  grid_->setThumbnailSize(60);
  grid_->setCaptionLines(3);
  grid_->setPlaceholderText(tr("No predictions yet"));
  split->addWidget(grid_);

  auto* detail = new QWidget(split);
  auto* dl = new QVBoxLayout(detail);
  dl->setContentsMargins(0, 0, 0, 0);
  auto* top = new QHBoxLayout;
  auto* imgCol = new QVBoxLayout;
  image_ = new QLabel(detail);
  image_->setObjectName("detailImage");
  image_->setFixedSize(132, 132);
  image_->setAlignment(Qt::AlignCenter);
  image_->setStyleSheet(QStringLiteral("border: 1px solid palette(mid);"));
  camToggle_ = new QCheckBox(tr("Grad-CAM"), detail);
  camToggle_->setObjectName("gradCamToggle");
  camToggle_->setChecked(true);
  useAsProbe_ = new QPushButton(tr("Use as probe"), detail);
  useAsProbe_->setObjectName("useAsProbe");
  useAsProbe_->setToolTip(tr("Follow this image's activations in the Live view while training"));
  useAsProbe_->setEnabled(false);
  imgCol->addWidget(image_);
  imgCol->addWidget(camToggle_);
  imgCol->addWidget(useAsProbe_);
  imgCol->addStretch(1);
  top->addLayout(imgCol);
  auto* infoCol = new QVBoxLayout;
  detailText_ = new QLabel(detailHint(), detail);
  detailText_->setObjectName("detailText");
  detailText_->setWordWrap(true);
  bars_ = new widgets::ProbabilityBars(detail);
  bars_->setObjectName("detailProbabilities");
  bars_->setMaxRows(5);
  infoCol->addWidget(detailText_);
  infoCol->addWidget(bars_, 1);
  top->addLayout(infoCol, 1);
  dl->addLayout(top);
  buildCurationUi(head, dl);
  activations_ = new widgets::ActivationView(detail);
  activations_->setObjectName("detailActivations");
  activations_->setMaxScale(3);
  activations_->setPlaceholderText(tr("Activations of the selected image"));
  dl->addWidget(activations_, 1);
  split->addWidget(detail);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);
  layout->addWidget(split, 1);

  connect(clearFilter_, &QPushButton::clicked, this, [this] {
    showTopLosses();
    emit cellFilterCleared();
  });
  connect(grid_, &widgets::ImageGrid::itemClicked, this, &InspectPanel::selectItem);
  connect(camToggle_, &QCheckBox::toggled, this, [this] { showDetailImage(); });
  connect(useAsProbe_, &QPushButton::clicked, this, [this] {
    if (!predictions_ || !data_ || detailPos_ < 0 || detailPos_ >= predictions_->size()) return;
    emit probeRequested(data_->tv.valid_data, predictions_->index[size_t(detailPos_)]);
  });
  connect(&predictWatcher_, &QFutureWatcher<InspectResult>::finished, this, &InspectPanel::predictionsFinished);
  connect(&detailWatcher_, &QFutureWatcher<DetailResult>::finished, this, &InspectPanel::detailFinished);
}

InspectPanel::~InspectPanel() {
  predictWatcher_.waitForFinished();
  detailWatcher_.waitForFinished();
  listWatcher_.waitForFinished();
  historyWatcher_.waitForFinished();
}

bool InspectPanel::busy() const { return predictWatcher_.isRunning(); }

void InspectPanel::clear(const QString& message) {
  ++generation_;
  pendingInspect_.reset();
  predictions_.reset();
  shown_.clear();
  entries_.clear();
  grid_->clear();
  header_->setText(message);
  clearFilter_->hide();
  detailPos_ = -1;
  detailReady_ = false;
  bars_->clear();
  activations_->clear();
  image_->clear();
  detailText_->setText(detailHint());  // no caption of an image no longer shown
  useAsProbe_->setEnabled(false);
}

QString InspectPanel::detailHint() {
  return tr("Click an image to see its class probabilities, Grad-CAM and activations.");
}

void InspectPanel::inspect(std::shared_ptr<Model> model, std::shared_ptr<const PreparedData> data,
                           const QString& title) {
  if (!model || !data) return;
  if (predictWatcher_.isRunning()) {
    // Never wait on the UI thread: the newest model is predicted next.
    pendingInspect_ = PendingInspect{std::move(model), std::move(data), title};
    return;
  }
  pendingInspect_.reset();
  auto sm = std::make_shared<SharedModel>();
  sm->model = std::move(model);
  model_ = sm;
  data_ = data;
  curation_->setData(data);
  names_ = toQStringList(data->source.class_names);
  const quint64 gen = ++generation_;
  header_->setText(tr("%1 — predicting %2 validation images…").arg(title).arg(data->tv.valid_indices.size()));
  predictWatcher_.setProperty("title", title);
  predictWatcher_.setFuture(QtConcurrent::run([sm, data, gen, batch = predictionBatch_] {
    InspectResult r;
    r.generation = gen;
    try {
      std::lock_guard<std::mutex> lock(sm->mutex);
      PredictOptions o;
      o.indices = data->tv.valid_indices;
      o.batch_size = batch;
      r.predictions =
          std::make_shared<const PredictionSet>(predict_dataset(*sm->model, *data->tv.valid_data, data->tv.norm, o));
    } catch (const std::exception& e) {
      r.error = QString::fromStdString(e.what());
    }
    return r;
  }));
}

void InspectPanel::predictionsFinished() {
  InspectResult r = predictWatcher_.result();
  if (pendingInspect_) {
    PendingInspect next = std::move(*pendingInspect_);
    pendingInspect_.reset();
    inspect(std::move(next.model), std::move(next.data), next.title);
    return;
  }
  if (r.generation != generation_) return;
  if (!r.error.isEmpty()) {
    header_->setText(tr("Predictions failed: %1").arg(r.error));
    return;
  }
  predictions_ = r.predictions;
  setProperty("title", predictWatcher_.property("title"));
  fillGrid();
  emit predictionsReady();
}

void InspectPanel::showCell(int t, int p) {
  cellTrue_ = t;
  cellPred_ = p;
  if (list_ != InspectList::TopLosses) setList(InspectList::TopLosses);  // a cell is a filter of the losses
  fillGrid();
}

void InspectPanel::showTopLosses() { showCell(-1, -1); }

void InspectPanel::fillGrid() {
  if (!predictions_ || list_ != InspectList::TopLosses) return;  // suspects and duplicates stay shown
  const auto& P = *predictions_;
  const QString title = property("title").toString();
  auto name = [this](int c) { return c >= 0 && c < names_.size() ? names_[c] : QString::number(c); };
  int64_t wrong = 0;
  for (int64_t i = 0; i < P.size(); ++i) wrong += !P.correct(i);
  if (cellTrue_ >= 0 && cellPred_ >= 0 && cellTrue_ < P.classes && cellPred_ < P.classes) {
    shown_ = cell_items(P, cellTrue_, cellPred_);
    header_->setText((shown_.size() == 1
                          ? tr("<b>%1 → %2</b>: %3 image of class %1 predicted as %2")
                          : tr("<b>%1 → %2</b>: %3 images of class %1 predicted as %2, highest loss first"))
                         .arg(name(cellTrue_).toHtmlEscaped(), name(cellPred_).toHtmlEscaped())
                         .arg(shown_.size()));
    clearFilter_->show();
  } else {
    cellTrue_ = cellPred_ = -1;
    shown_ = top_losses(P, 0);
    header_->setText(tr("<b>Top losses</b> · %1 · %2 of %3 validation images misclassified (accuracy %4 %)")
                         .arg(title.toHtmlEscaped())
                         .arg(wrong)
                         .arg(P.size())
                         .arg(P.accuracy() * 100, 0, 'f', 1));
    clearFilter_->hide();
  }
  if (int(shown_.size()) > kMaxShown) shown_.resize(kMaxShown);
  const Dataset& ds = *data_->tv.valid_data;
  const bool official = data_->tv.split.kind == "official";
  entries_.clear();
  entries_.reserve(shown_.size());
  for (const auto& it : shown_) {
    InspectEntry e;
    e.testPart = official;
    e.baseIndex = uncurated_index(ds, it.dataset_index);
    e.image = curation_->imageAt(e.testPart, e.baseIndex);
    e.label = it.label;
    e.predicted = it.predicted;
    e.lossPosition = it.position;
    e.caption = tr("%1\n→ %2 %3 %\nloss %4")
                    .arg(name(it.label), name(it.predicted))
                    .arg(it.prob_predicted * 100, 0, 'f', 0)
                    .arg(it.loss, 0, 'f', 2);
    e.toolTip = tr("%1 · true %2 (p = %3) · predicted %4 (p = %5) · loss %6")
                    .arg(e.image.empty() ? QStringLiteral("#%1").arg(it.dataset_index) : qs(e.image))
                    .arg(name(it.label))
                    .arg(it.prob_label, 0, 'f', 3)
                    .arg(name(it.predicted))
                    .arg(it.prob_predicted, 0, 'f', 3)
                    .arg(it.loss, 0, 'f', 3);
    e.accent = it.label == it.predicted ? QColor(0x3f, 0xb9, 0x50) : QColor(0xe5, 0x53, 0x4b);
    entries_.push_back(std::move(e));
  }
  showEntries();
  if (shown_.empty()) grid_->setPlaceholderText(tr("No images here"));
}

void InspectPanel::selectItem(int i) {
  if (i < 0 || i >= int(entries_.size()) || !data_) return;
  const InspectEntry& e = entries_[size_t(i)];
  if (grid_->selectedIndexes().size() <= 1) grid_->setSelectedIndex(i);
  loadHistory(e.image);
  if (e.lossPosition < 0 || !model_ || !predictions_) {
    showPlainDetail(e);
    return;
  }
  detailPos_ = int(e.lossPosition);
  detailReady_ = false;
  const LossItem it = loss_item(*predictions_, e.lossPosition);
  if (detailWatcher_.isRunning()) {
    pendingDetail_ = i;  // compute the latest click once the running one ends
    return;
  }
  pendingDetail_ = -1;
  detailWatcher_.setFuture(QtConcurrent::run(computeDetail, model_, data_, it.position, it.dataset_index, generation_));
}

void InspectPanel::detailFinished() {
  DetailResult r = detailWatcher_.result();
  if (pendingDetail_ >= 0) {
    int next = pendingDetail_;
    pendingDetail_ = -1;
    selectItem(next);
    return;
  }
  if (r.generation != generation_ || r.position != detailPos_ || !predictions_) return;
  if (!r.error.isEmpty()) {
    detailText_->setText(tr("Could not inspect this image: %1").arg(r.error));
    return;
  }
  detail_ = r;
  const auto& P = *predictions_;
  const LossItem it = loss_item(P, r.position);
  auto name = [this](int c) { return c >= 0 && c < names_.size() ? names_[c] : QString::number(c); };
  const int row = grid_->selectedIndex();
  const std::string image = row >= 0 && row < int(entries_.size()) ? entries_[size_t(row)].image : std::string();
  detailText_->setText(tr("<b>%1</b> · true <b>%2</b> · predicted <b>%3</b> (%4&nbsp;%)<br>loss %5 · %6")
                           .arg(image.empty() ? QStringLiteral("#%1").arg(it.dataset_index) : qs(image).toHtmlEscaped())
                           .arg(name(it.label).toHtmlEscaped(), name(it.predicted).toHtmlEscaped())
                           .arg(it.prob_predicted * 100, 0, 'f', 1)
                           .arg(it.loss, 0, 'f', 3)
                           .arg(r.camLayer.toHtmlEscaped()));
  bars_->setProbabilities(r.probabilities, names_);
  bars_->setTrueClass(it.label);
  std::vector<widgets::ActivationEntry> entries;
  if (r.activations)
    for (const auto& l : r.activations->layers) {
      widgets::ActivationEntry e;
      e.name = QStringLiteral("%1 (%2)").arg(qs(l.name), qs(l.type));
      e.detail = shapeText(l.shape);
      e.image = toQImage(l.tiles.image);
      entries.push_back(std::move(e));
    }
  activations_->setEntries(std::move(entries));
  showDetailImage();
  useAsProbe_->setEnabled(true);
  detailReady_ = true;
  emit detailShown(r.position);
}

void InspectPanel::showDetailImage() {
  const QImage& img = camToggle_->isChecked() && !detail_.overlay.isNull() ? detail_.overlay : detail_.image;
  if (img.isNull()) return;
  image_->setPixmap(QPixmap::fromImage(img.scaled(128, 128, Qt::KeepAspectRatio, Qt::FastTransformation)));
}

}  // namespace perceptra::studio
