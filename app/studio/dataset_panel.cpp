#include "app/studio/dataset_panel.h"

#include <cmath>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSignalBlocker>
#include <QTabWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrent>
#include <utility>

#include "app/studio/qt_convert.h"
#include "widgets/class_histogram.h"
#include "widgets/image_grid.h"

namespace perceptra::studio {

namespace {
constexpr int kPerClass = 8;

struct Preview {
  std::vector<widgets::ImageGridItem> items;
};

OpenedDataset openBlocking(const QString& request, const OpenOptions& options) {
  OpenedDataset r;
  r.request = request;
  try {
    auto src = std::make_shared<DataSource>(open_dataset(request.toStdString(), options));
    r.info = describe(*src, 5000);
    r.source = src;
  } catch (const std::exception& e) {
    r.error = QString::fromStdString(e.what());
  }
  return r;
}

QString statsText(const std::vector<float>& v) {
  QStringList parts;
  for (float x : v) parts << QString::number(double(x), 'f', 3);
  return parts.join(QStringLiteral(", "));
}
}  // namespace

QString DatasetPanel::defaultDataset() {
  for (const auto& k : known_datasets())
    if (k.name == "fashion-mnist" && !k.location.empty()) return QStringLiteral("fashion-mnist");
  return QStringLiteral("sample");
}

DatasetPanel::DatasetPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);

  auto* top = new QHBoxLayout;
  picker_ = new QComboBox(this);
  picker_->setObjectName("datasetPicker");
  for (const auto& k : known_datasets()) {
    if (k.location.empty() && k.name != "sample") continue;
    picker_->addItem(QString::fromStdString(k.name), QString::fromStdString(k.name));
    picker_->setItemData(picker_->count() - 1, QString::fromStdString(k.description), Qt::ToolTipRole);
  }
  if (picker_->findData(QStringLiteral("sample")) < 0)
    picker_->addItem(QStringLiteral("sample"), QStringLiteral("sample"));
  top->addWidget(picker_, 1);
  openFolder_ = new QPushButton(tr("Folder…"), this);
  openFolder_->setToolTip(tr("Open an image folder (one sub-folder per class), an IDX folder or a CIFAR-10 folder"));
  openFile_ = new QPushButton(tr("File…"), this);
  openFile_->setToolTip(tr("Open an IDX images file (its labels file next to it)"));
  top->addWidget(openFolder_);
  top->addWidget(openFile_);
  layout->addLayout(top);

  summary_ = new QLabel(this);
  summary_->setObjectName("datasetSummary");
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(summary_);
  error_ = new QLabel(this);
  error_->setObjectName("datasetError");
  error_->setWordWrap(true);
  error_->setStyleSheet(QStringLiteral("color: #e5534b;"));
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->hide();
  layout->addWidget(error_);

  tabs_ = new QTabWidget(this);
  samples_ = new widgets::ImageGrid(this);
  samples_->setObjectName("datasetSamples");
  samples_->setThumbnailSize(52);
  samples_->setCaptionLines(1);
  samples_->setPlaceholderText(tr("Opening dataset…"));
  histogram_ = new widgets::ClassHistogram(this);
  histogram_->setObjectName("datasetHistogram");
  augmentGrid_ = new widgets::ImageGrid(this);
  augmentGrid_->setObjectName("augmentPreview");
  augmentGrid_->setThumbnailSize(44);
  augmentGrid_->setCaptionLines(1);
  augmentGrid_->setPlaceholderText(tr("Turn on an augmentation to preview it"));
  tabs_->addTab(samples_, tr("Samples"));
  tabs_->addTab(histogram_, tr("Classes"));
  tabs_->addTab(augmentGrid_, tr("Augmented"));
  layout->addWidget(tabs_, 1);

  layout->addWidget(buildSettings());

  connect(imageSize_, &QComboBox::activated, this, [this] { sizeControlsChanged(); });
  connect(imageSize_->lineEdit(), &QLineEdit::editingFinished, this, [this] { sizeControlsChanged(); });
  connect(resize_, &QComboBox::activated, this, [this] { sizeControlsChanged(); });
  connect(officialSplit_, &QCheckBox::toggled, this, [this] { updateValidationUi(); });
  connect(validPct_, &QDoubleSpinBox::valueChanged, this, [this] { updateValidationUi(); });
  connect(picker_, &QComboBox::activated, this, [this](int i) { openDataset(picker_->itemData(i).toString()); });
  connect(openFolder_, &QPushButton::clicked, this, &DatasetPanel::openFolderDialog);
  connect(openFile_, &QPushButton::clicked, this, &DatasetPanel::openFileDialog);
  connect(&watcher_, &QFutureWatcher<OpenedDataset>::finished, this, &DatasetPanel::finished);
  connect(samples_, &widgets::ImageGrid::itemClicked, this, [this](int i) {
    bool ok = false;
    qint64 idx = samples_->item(i).data.toLongLong(&ok);
    if (ok) emit probeRequested(idx);
  });
}

// The group under the tabs: image size and resize policy (folders), the
// validation split, and the augmentations with their preview.
QWidget* DatasetPanel::buildSettings() {
  auto* split = new QGroupBox(tr("Image size, validation and augmentation"), this);
  auto* form = new QFormLayout(split);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  // Image folders: the size images are decoded to and how they get there.
  imageSize_ = new QComboBox(split);
  imageSize_->setObjectName("imageSize");
  imageSize_->setEditable(true);
  imageSize_->setInsertPolicy(QComboBox::NoInsert);
  imageSize_->addItems({QStringLiteral("auto"), QStringLiteral("32"), QStringLiteral("64"), QStringLiteral("96"),
                        QStringLiteral("128"), QStringLiteral("160"), QStringLiteral("224"), QStringLiteral("256")});
  imageSize_->setToolTip(
      tr("Image folders are decoded to this size: N (square) or HxW.\n"
         "auto: the native size when all images are small and equal, else 224."));
  resize_ = new QComboBox(split);
  resize_->setObjectName("resizePolicy");
  resize_->addItem(tr("Crop"), QStringLiteral("crop"));
  resize_->addItem(tr("Squish"), QStringLiteral("squish"));
  resize_->addItem(tr("Pad"), QStringLiteral("pad"));
  resize_->setItemData(0, tr("Scale to cover the size, keep the centre"), Qt::ToolTipRole);
  resize_->setItemData(1, tr("Stretch the whole image to the size"), Qt::ToolTipRole);
  resize_->setItemData(2, tr("Scale to fit inside the size, black borders"), Qt::ToolTipRole);
  auto* sizeRow = new QHBoxLayout;
  sizeRow->addWidget(imageSize_, 1);
  sizeRow->addWidget(resize_, 1);
  form->addRow(tr("Image size"), sizeRow);
  sizeNote_ = new QLabel(split);
  sizeNote_->setObjectName("imageSizeNote");
  sizeNote_->setWordWrap(true);
  form->addRow(sizeNote_);
  officialSplit_ = new QCheckBox(tr("Use the dataset's test split"), split);
  officialSplit_->setObjectName("officialSplit");
  validPct_ = new QDoubleSpinBox(split);
  validPct_->setObjectName("validPct");
  validPct_->setRange(1, 90);
  validPct_->setDecimals(0);
  validPct_->setSuffix(QStringLiteral(" %"));
  validPct_->setValue(20);
  form->addRow(officialSplit_);
  splitCounts_ = new QLabel(split);
  splitCounts_->setObjectName("splitCounts");
  auto* validRow = new QHBoxLayout;
  validRow->addWidget(validPct_, 1);
  validRow->addWidget(splitCounts_);
  form->addRow(tr("Validation"), validRow);
  auto* aug = new QHBoxLayout;
  resizedCrop_ = new QCheckBox(tr("Resized crop"), split);
  resizedCrop_->setObjectName("resizedCrop");
  resizedCrop_->setToolTip(tr("Random region of 8–100 % of the area and aspect 3:4–4:3, resized to the image size"));
  crop_ = new QCheckBox(tr("Crop"), split);
  crop_->setToolTip(tr("Random crop after 4 pixels of zero padding"));
  flip_ = new QCheckBox(tr("Flip"), split);
  flip_->setToolTip(tr("Horizontal flip with probability 1/2"));
  rotate_ = new QCheckBox(tr("Rotate"), split);
  rotate_->setToolTip(tr("Small rotation, up to ±10°"));
  color_ = new QCheckBox(tr("Colour"), split);
  color_->setToolTip(tr("Brightness and contrast jitter (±20 %)"));
  for (auto* c : {resizedCrop_, crop_, flip_, rotate_, color_}) {
    aug->addWidget(c);
    connect(c, &QCheckBox::toggled, this, [this] {
      refreshAugmentPreview();
      if (augment().any()) tabs_->setCurrentWidget(augmentGrid_);
    });
  }
  auto* reroll = new QToolButton(split);
  reroll->setText(QStringLiteral("⟳"));
  reroll->setToolTip(tr("New random augmentations"));
  connect(reroll, &QToolButton::clicked, this, [this] {
    ++previewSeed_;
    refreshAugmentPreview();
  });
  aug->addStretch(1);
  aug->addWidget(reroll);
  form->addRow(tr("Augment"), aug);
  return split;
}

DatasetPanel::~DatasetPanel() { watcher_.waitForFinished(); }

// Until finished() has shown the result, not merely until the worker is
// done: in between, the panel still shows the previous dataset.
bool DatasetPanel::isLoading() const { return loading_; }
QString DatasetPanel::errorText() const { return error_->isHidden() ? QString() : error_->text(); }

void DatasetPanel::openDataset(const QString& nameOrPath) {
  if (loading_) {
    pending_ = nameOrPath;  // one open at a time; the latest request wins
    return;
  }
  error_->hide();
  summary_->setText(tr("Opening <b>%1</b>…").arg(nameOrPath.toHtmlEscaped()));
  for (auto* b : {openFolder_, openFile_}) b->setEnabled(false);
  picker_->setEnabled(false);
  emit loadingChanged(true);
  const OpenOptions options = openOptions();
  loading_ = true;
  watcher_.setFuture(QtConcurrent::run([nameOrPath, options] { return openBlocking(nameOrPath, options); }));
}

void DatasetPanel::openFolderDialog() {
  QString dir = QFileDialog::getExistingDirectory(this, tr("Open dataset folder"));
  if (!dir.isEmpty()) openDataset(dir);
}

void DatasetPanel::openFileDialog() {
  QString f = QFileDialog::getOpenFileName(this, tr("Open IDX images file"), QString(),
                                           tr("IDX images (*-idx3-ubyte *-idx3-ubyte.gz *.idx *.gz);;All files (*)"));
  if (!f.isEmpty()) openDataset(f);
}

void DatasetPanel::finished() {
  loading_ = false;
  if (!pending_.isEmpty()) {
    const QString next = std::exchange(pending_, QString());
    openDataset(next);
    return;
  }
  OpenedDataset r = watcher_.result();
  for (auto* b : {openFolder_, openFile_}) b->setEnabled(true);
  picker_->setEnabled(true);
  emit loadingChanged(false);
  if (!r.error.isEmpty()) {
    error_->setText(tr("Could not open %1:\n%2").arg(r.request, r.error));
    error_->show();
    summary_->setText(current_.source ? tr("Still showing <b>%1</b>.").arg(qs(current_.info.name).toHtmlEscaped())
                                      : tr("No dataset open."));
    emit datasetFailed(r.error);
    return;
  }
  current_ = r;
  {
    QSignalBlocker b(picker_);
    int i = picker_->findData(r.request);
    if (i < 0) {
      picker_->addItem(QFileInfo(r.request).fileName(), r.request);
      i = picker_->count() - 1;
      picker_->setItemData(i, r.request, Qt::ToolTipRole);
    }
    picker_->setCurrentIndex(i);
  }
  showDataset();
  emit datasetOpened();
}

void DatasetPanel::showDataset() {
  const auto& info = current_.info;
  const auto& src = *current_.source;
  QLocale loc;
  QString counts = tr("train %1").arg(loc.toString(qlonglong(info.train_size)));
  if (info.has_test) counts += tr(" · test %1").arg(loc.toString(qlonglong(info.test_size)));
  QString text = tr("<b>%1</b> · %2 · %3 classes<br>%4 · image %5<br>mean %6 · std %7")
                     .arg(qs(info.name).toHtmlEscaped(), qs(info.format))
                     .arg(info.classes.size())
                     .arg(counts, shapeText(Shape(info.shape)), statsText(info.stats.mean), statsText(info.stats.std));
  if (!info.warnings.empty()) {
    // All of them are in the Problems panel; the first few here.
    QStringList shown;
    for (size_t i = 0; i < info.warnings.size() && i < 3; ++i) shown << qs(info.warnings[i]).toHtmlEscaped();
    if (info.warnings.size() > 3) shown << tr("… and %1 more").arg(info.warnings.size() - 3);
    text += tr("<br><span style='color:#d29922'>%1 warning(s) (all in the Problems panel):<br>%2</span>")
                .arg(info.warnings.size())
                .arg(shown.join(QStringLiteral("<br>")));
  }
  summary_->setText(text);
  summary_->setToolTip(qs(src.location));

  // Samples: the first kPerClass images of every class, class by class.
  const auto& data = *src.train;
  std::vector<int> labels = data.labels();
  const int classes = data.num_classes();
  std::vector<std::vector<int64_t>> per(classes);
  for (int64_t i = 0; i < int64_t(labels.size()); ++i) {
    int c = labels[size_t(i)];
    if (c >= 0 && c < classes && int(per[c].size()) < kPerClass) per[c].push_back(i);
  }
  std::vector<widgets::ImageGridItem> items;
  for (int c = 0; c < classes; ++c)
    for (int64_t idx : per[c]) {
      widgets::ImageGridItem it;
      it.image = sampleImage(data, idx);
      it.caption = qs(src.class_names[size_t(c)]);
      it.toolTip = tr("%1 · #%2 (click: use as the probe image)").arg(it.caption).arg(idx);
      it.data = QVariant::fromValue<qlonglong>(idx);
      items.push_back(std::move(it));
    }
  samples_->setItems(std::move(items));

  QStringList names = toQStringList(info.classes);
  std::vector<double> train(info.train_counts.begin(), info.train_counts.end());
  histogram_->setCounts(names, train, tr("train"));
  if (info.has_test)
    histogram_->addGroup(tr("test"), std::vector<double>(info.test_counts.begin(), info.test_counts.end()));

  {
    QSignalBlocker b(officialSplit_);
    officialSplit_->setEnabled(info.has_test);
    officialSplit_->setChecked(info.has_test);
  }
  updateValidationUi();
  updateSizeUi();
  refreshAugmentPreview();
}

OpenOptions DatasetPanel::openOptions() const {
  OpenOptions o;
  const ImageSize size = parse_image_size(lastValidSize_.toStdString());
  o.image.height = size.height;
  o.image.width = size.width;
  o.image.resize = parse_resize_policy(resizePolicy().toStdString());
  return o;
}

QString DatasetPanel::imageSize() const { return lastValidSize_; }

QString DatasetPanel::resizePolicy() const { return resize_->currentData().toString(); }

bool DatasetPanel::setImageSize(const QString& size, const QString& policy) {
  const int p = resize_->findData(policy);
  if (p < 0) return false;
  try {
    parse_image_size(size.trimmed().toLower().toStdString());
  } catch (const std::exception&) {
    return false;
  }
  {
    QSignalBlocker b(imageSize_);
    imageSize_->setCurrentText(size);
  }
  resize_->setCurrentIndex(p);
  sizeControlsChanged();
  return true;
}

void DatasetPanel::sizeControlsChanged() {
  QString text = imageSize_->currentText().trimmed().toLower();
  try {
    parse_image_size(text.toStdString());
  } catch (const std::exception& e) {
    // Not a size: back to the last good one, with the reason in the note.
    QSignalBlocker b(imageSize_);
    imageSize_->setCurrentText(lastValidSize_);
    sizeNote_->setText(QString::fromStdString(e.what()));
    return;
  }
  const bool changed = text != lastValidSize_ || qs(current_.info.resize) != resizePolicy();
  // Return in the box also emits activated(): the second call changes
  // nothing and must not replace the note (e.g. the reason a size was refused).
  if (!changed) return;
  lastValidSize_ = text;
  // Only image folders have a size to choose; others keep theirs.
  if (current_.source && current_.info.format == "image-folder")
    openDataset(current_.request);
  else
    updateSizeUi();
}

void DatasetPanel::updateSizeUi() {
  const bool folder = current_.source && current_.info.format == "image-folder";
  imageSize_->setEnabled(!current_.source || folder);
  resize_->setEnabled(!current_.source || folder);
  if (!current_.source) {
    sizeNote_->clear();
    return;
  }
  if (!folder) {
    sizeNote_->setText(
        tr("%1 is stored at a fixed size: %2").arg(qs(current_.info.name), shapeText(Shape(current_.info.shape))));
    return;
  }
  sizeNote_->setText(
      tr("Decoded to %1, %2: %3")
          .arg(shapeText(Shape(current_.info.shape)), qs(current_.info.resize), qs(current_.info.size_note)));
}

void DatasetPanel::applyTo(TrainConfig& c) const {
  c.data = currentRequest().toStdString();
  c.valid_pct = validPct();
  c.image_size = imageSize().toStdString();
  c.resize = resizePolicy().toStdString();
  c.augment = augment();
}

void DatasetPanel::updateValidationUi() {
  const bool official = officialSplit_->isEnabled() && officialSplit_->isChecked();
  validPct_->setEnabled(!official);
  // What the split means in images (the per-class rounding of a stratified
  // split can move it by a few, hence "≈").
  QString counts;
  if (current_.source) {
    const QLocale loc;
    const auto& info = current_.info;
    const qlonglong n = qlonglong(info.train_size);
    if (official)
      counts = tr("%1 train / %2 test").arg(loc.toString(n), loc.toString(qlonglong(info.test_size)));
    else {
      const qlonglong v = std::llround(double(n) * validPct_->value() / 100.0);
      counts = tr("≈ %1 train / %2 valid").arg(loc.toString(n - v), loc.toString(v));
    }
  }
  splitCounts_->setText(counts);
}

void DatasetPanel::showRunSplit(int64_t train, int64_t valid) {
  const QLocale loc;
  splitCounts_->setText(
      tr("run: %1 train / %2 valid").arg(loc.toString(qlonglong(train)), loc.toString(qlonglong(valid))));
}

std::optional<double> DatasetPanel::validPct() const {
  if (officialSplit_->isEnabled() && officialSplit_->isChecked()) return std::nullopt;
  return validPct_->value();  // TrainConfig::valid_pct is a percentage
}

AugmentOptions DatasetPanel::augment() const {
  AugmentOptions a;
  a.resized_crop = resizedCrop_->isChecked();
  a.crop = crop_->isChecked();
  a.hflip = flip_->isChecked();
  a.rotate = rotate_->isChecked();
  a.color = color_->isChecked();
  return a;
}

void DatasetPanel::refreshAugmentPreview() {
  if (!current_.source) return;
  AugmentOptions a = augment();
  if (!a.any()) {
    augmentGrid_->clear();
    return;
  }
  const auto& data = *current_.source->train;
  const Shape s = data.sample_shape();
  const int64_t C = s[0], H = s[1], W = s[2];
  std::vector<float> img(size_t(s.numel())), scratch;
  std::vector<widgets::ImageGridItem> items;
  const int64_t n = std::min<int64_t>(6, data.size());
  for (int64_t k = 0; k < n; ++k) {
    const int64_t idx = (k * data.size()) / n + k;  // spread over the data (classes are often sorted)
    for (int v = 0; v < 6; ++v) {
      data.image(idx, img.data());
      widgets::ImageGridItem it;
      if (v > 0) {  // the first column is the original
        Rng rng = augment_rng(uint64_t(previewSeed_), v, idx);
        augment_image(img.data(), C, H, W, a, NormStats{}, rng, scratch);
      }
      it.image = toQImage(image_from_chw(img.data(), int(C), int(H), int(W)));
      it.toolTip = v == 0 ? tr("original #%1").arg(idx) : tr("augmented #%1").arg(idx);
      it.caption = v == 0 ? tr("original") : QString();
      if (v == 0) it.accent = QColor(0x4c, 0x9a, 0xff);
      items.push_back(std::move(it));
    }
  }
  augmentGrid_->setItems(std::move(items));
}

}  // namespace perceptra::studio
