#include "app/studio/int8_export_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPixmap>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrent>

#include <cmath>

#include "app/studio/qt_convert.h"
#include "core/data/resolve.h"
#include "core/interp/image.h"
#include "core/io/model_file.h"
#include "core/quant/int8_export.h"
#include "core/quant/onnx_qdq_export.h"
#include "core/quant/quantized_file.h"
#include "widgets/image_grid.h"

namespace perceptra::studio {

namespace {

// The worker: everything heavy (loading, calibration, sensitivity, both
// evaluations, a trial write for the int8 size, the flipped images' pixels).
Int8Outcome runQuantize(const std::string& modelPath, std::shared_ptr<const DataSource> source, quant::PtqDataOptions d,
                        quant::PtqOptions o, const std::string& trialPath) {
  Int8Outcome out;
  try {
    auto q = std::make_shared<quant::Int8Export>(quant::quantize_model_file(modelPath, *source, source->name, d, o));
    quant::write_int8_model(trialPath, *q);  // the int8 file's size, before the user writes it
    out.flipped = quant::load_flipped_images(q->result.report, quant::evaluation_split(*source),
                                             size_t(Int8ExportDialog::kMaxFlipped));
    out.result = std::move(q);
  } catch (const quant::PtqCancelled&) {
    out.cancelled = true;
  } catch (const std::exception& e) {
    out.error = QString::fromStdString(e.what());
  }
  return out;
}

QString percent(double v) { return QString::number(v * 100, 'f', 2) + QLatin1Char('%'); }
QString points(double v) {
  return (v >= 0 ? QStringLiteral("+") : QStringLiteral("−")) + QString::number(std::fabs(v) * 100, 'f', 2) +
         QStringLiteral(" pt");
}
QString bytesText(double b) {
  if (b >= 1 << 20) return QString::number(b / (1 << 20), 'f', 2) + QStringLiteral(" MB");
  return QString::number(b / 1024, 'f', 1) + QStringLiteral(" KB");
}

QTableWidgetItem* cell(const QString& text, Qt::Alignment align = Qt::AlignRight | Qt::AlignVCenter) {
  auto* it = new QTableWidgetItem(text);
  it->setTextAlignment(align);
  it->setFlags(Qt::ItemIsSelectable | Qt::ItemIsEnabled);
  return it;
}

QTableWidget* makeTable(const QStringList& headers, const char* name) {
  auto* t = new QTableWidget(0, int(headers.size()));
  t->setObjectName(QString::fromLatin1(name));
  t->setHorizontalHeaderLabels(headers);
  t->verticalHeader()->hide();
  t->setEditTriggers(QAbstractItemView::NoEditTriggers);
  t->setSelectionBehavior(QAbstractItemView::SelectRows);
  t->setAlternatingRowColors(true);
  t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  t->horizontalHeader()->setStretchLastSection(true);
  return t;
}

const QColor kWorse(0xd6, 0x45, 0x45), kBetter(0x3a, 0x9a, 0x5b), kBothWrong(0xd9, 0x9a, 0x2b);

}  // namespace

Int8ExportDialog::Int8ExportDialog(const QString& modelPath, std::shared_ptr<const DataSource> source,
                                   const QString& baseName, QWidget* parent)
    : QDialog(parent), modelPath_(modelPath), baseName_(baseName), source_(std::move(source)) {
  setObjectName(QStringLiteral("int8ExportDialog"));
  setWindowTitle(tr("Export int8 (quantised)"));
  if (source_) classNames_ = source_->class_names;
  buildUi();
  connect(&watcher_, &QFutureWatcher<Int8Outcome>::finished, this, &Int8ExportDialog::onFinished);
  connect(this, &Int8ExportDialog::progressText, status_, &QLabel::setText);
  connect(this, &Int8ExportDialog::progressFraction, this,
          [this](double f) { progress_->setValue(int(std::lround(f * 1000))); });
  // The layers that can stay float, from the model's int8 plan (cheap: no data).
  try {
    LoadedModel m = load_model(modelPath_.toStdString());
    if (classNames_.empty()) classNames_ = m.meta.class_names;
    quant::QuantizedModel plan(*m.model);
    for (quant::QuantNode* n : plan.quantizable()) {
      auto* it = new QListWidgetItem(QString::fromStdString(n->name), floatLayers_);
      it->setFlags(it->flags() | Qt::ItemIsUserCheckable);
      it->setCheckState(Qt::Unchecked);
    }
  } catch (const std::exception& e) {
    lastError_ = QString::fromStdString(e.what());
    status_->setText(lastError_);
    quantizeButton_->setEnabled(false);
  }
  if (!source_) {
    status_->setText(tr("Open the dataset the model was trained on first: its training images calibrate."));
    quantizeButton_->setEnabled(false);
  }
}

Int8ExportDialog::~Int8ExportDialog() {
  if (cancel_) *cancel_ = true;
  watcher_.waitForFinished();
}

QGroupBox* Int8ExportDialog::buildSettings() {
  auto* settings = new QGroupBox(tr("Calibration"));
  calibration_ = new QSpinBox;
  calibration_->setObjectName(QStringLiteral("int8Calibration"));
  calibration_->setRange(1, 100000);
  calibration_->setValue(512);
  calibration_->setSuffix(tr(" training images"));
  calibration_->setToolTip(tr("Training images whose activations set each layer's int8 range"));
  method_ = new QComboBox;
  method_->setObjectName(QStringLiteral("int8Method"));
  method_->addItem(tr("percentile (99.99 %)"), QStringLiteral("percentile"));
  method_->addItem(tr("min/max"), QStringLiteral("minmax"));
  method_->addItem(tr("entropy (KL divergence)"), QStringLiteral("entropy"));
  method_->setToolTip(tr("How a layer's range is chosen from the calibration activations"));
  holdout_ = new QSpinBox;
  holdout_->setObjectName(QStringLiteral("int8Holdout"));
  holdout_->setRange(0, 100000);
  holdout_->setValue(2000);
  holdout_->setSuffix(tr(" training images"));
  holdout_->setSpecialValueText(tr("none (use the test images)"));
  holdout_->setToolTip(
      tr("Held-out training images (not calibration images) on which each layer's accuracy cost is measured: a "
         "layer stays float when it costs more than 0.2 points and more than twice the noise. The test split only "
         "grades the result."));
  floatLayers_ = new QListWidget;
  floatLayers_->setObjectName(QStringLiteral("int8FloatLayers"));
  floatLayers_->setToolTip(tr("Checked layers stay float whatever their sensitivity"));
  floatLayers_->setMaximumHeight(110);
  auto* form = new QFormLayout;
  form->addRow(tr("Calibrate on"), calibration_);
  form->addRow(tr("Range method"), method_);
  form->addRow(tr("Fallback decided on"), holdout_);
  auto* layersBox = new QVBoxLayout;
  layersBox->addWidget(new QLabel(tr("Keep float:")));
  layersBox->addWidget(floatLayers_);
  auto* settingsRow = new QHBoxLayout(settings);
  settingsRow->addLayout(form, 3);
  settingsRow->addLayout(layersBox, 2);
  return settings;
}

QWidget* Int8ExportDialog::buildFlippedPage() {
  grid_ = new widgets::ImageGrid;
  grid_->setObjectName(QStringLiteral("int8FlippedGrid"));
  grid_->setCaptionLines(3);
  grid_->setThumbnailSize(64);
  grid_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  grid_->setPlaceholderText(tr("No image changed its prediction."));
  preview_ = new QLabel;
  preview_->setObjectName(QStringLiteral("int8Preview"));
  preview_->setFixedSize(196, 196);
  preview_->setAlignment(Qt::AlignCenter);
  preview_->setStyleSheet(QStringLiteral("QLabel { background: palette(base); border: 1px solid palette(mid); }"));
  previewCaption_ = new QLabel(tr("Click an image to see it larger."));
  previewCaption_->setObjectName(QStringLiteral("int8PreviewCaption"));
  previewCaption_->setWordWrap(true);
  previewCaption_->setFixedWidth(196);
  previewCaption_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  auto* legend = new QLabel(tr("<span style='color:%1'>■</span> int8 wrong where float was right &nbsp; "
                               "<span style='color:%2'>■</span> int8 right where float was wrong &nbsp; "
                               "<span style='color:%3'>■</span> both wrong")
                                .arg(kWorse.name(), kBetter.name(), kBothWrong.name()));
  auto* flippedPage = new QWidget;
  auto* side = new QVBoxLayout;
  side->addWidget(preview_);
  side->addWidget(previewCaption_, 1);
  auto* gridCol = new QVBoxLayout;
  gridCol->addWidget(legend);
  gridCol->addWidget(grid_, 1);
  auto* flippedRow = new QHBoxLayout(flippedPage);
  flippedRow->addLayout(gridCol, 1);
  flippedRow->addLayout(side);
  connect(grid_, &widgets::ImageGrid::currentIndexChanged, this, &Int8ExportDialog::showPreview);
  connect(grid_, &widgets::ImageGrid::itemClicked, this, &Int8ExportDialog::showPreview);
  return flippedPage;
}

void Int8ExportDialog::buildUi() {
  QGroupBox* settings = buildSettings();

  quantizeButton_ = new QPushButton(tr("&Quantise"));
  quantizeButton_->setObjectName(QStringLiteral("int8Quantize"));
  quantizeButton_->setDefault(true);
  cancelButton_ = new QPushButton(tr("Cancel"));
  cancelButton_->setObjectName(QStringLiteral("int8Cancel"));
  cancelButton_->setEnabled(false);
  progress_ = new QProgressBar;
  progress_->setObjectName(QStringLiteral("int8Progress"));
  progress_->setRange(0, 1000);
  progress_->setTextVisible(false);
  status_ = new QLabel(tr("Choose the calibration, then Quantise: nothing is written until you say so."));
  status_->setObjectName(QStringLiteral("int8Status"));
  status_->setWordWrap(true);
  auto* runRow = new QHBoxLayout;
  runRow->addWidget(quantizeButton_);
  runRow->addWidget(cancelButton_);
  runRow->addWidget(progress_, 1);

  // The report.
  summary_ = new QLabel;
  summary_->setObjectName(QStringLiteral("int8Summary"));
  summary_->setTextFormat(Qt::RichText);
  summary_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  summary_->setWordWrap(true);
  summary_->setMargin(8);
  perClass_ = makeTable({tr("Class"), tr("Images"), tr("Float"), tr("int8"), tr("Change")}, "int8PerClass");
  layers_ = makeTable({tr("Layer"), tr("Change"), tr("Noise (1 se)"), tr("Worse"), tr("Better"), tr("Runs as")},
                      "int8Layers");
  QWidget* flippedPage = buildFlippedPage();

  tabs_ = new QTabWidget;
  tabs_->setObjectName(QStringLiteral("int8ReportTabs"));
  tabs_->addTab(summary_, tr("Summary"));
  tabs_->addTab(perClass_, tr("Per class"));
  tabs_->addTab(layers_, tr("Layers"));
  tabs_->addTab(flippedPage, tr("Flipped images"));
  tabs_->setEnabled(false);

  writeModelButton_ = new QPushButton(tr("Write int8 .pmodel…"));
  writeModelButton_->setObjectName(QStringLiteral("int8WriteModel"));
  writeOnnxButton_ = new QPushButton(tr("Write QDQ ONNX…"));
  writeOnnxButton_->setObjectName(QStringLiteral("int8WriteOnnx"));
  writeModelButton_->setEnabled(false);
  writeOnnxButton_->setEnabled(false);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
  buttons->addButton(writeModelButton_, QDialogButtonBox::ActionRole);
  buttons->addButton(writeOnnxButton_, QDialogButtonBox::ActionRole);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

  auto* source = new QLabel(tr("Model: %1").arg(QDir::toNativeSeparators(modelPath_)));
  source->setObjectName(QStringLiteral("int8ModelPath"));
  source->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* top = new QVBoxLayout(this);
  top->addWidget(source);
  top->addWidget(settings);
  top->addLayout(runRow);
  top->addWidget(status_);
  top->addWidget(tabs_, 1);
  top->addWidget(buttons);
  resize(860, 680);

  connect(quantizeButton_, &QPushButton::clicked, this, &Int8ExportDialog::startQuantize);
  connect(cancelButton_, &QPushButton::clicked, this, &Int8ExportDialog::cancel);
  connect(writeModelButton_, &QPushButton::clicked, this, [this] {
    const QString path = QFileDialog::getSaveFileName(this, tr("Write int8 model"), baseName_ + "-int8.pmodel",
                                                      tr("Perceptra model (*.pmodel)"));
    if (path.isEmpty()) return;
    QString err;
    if (writePmodel(path, &err))
      QMessageBox::information(this, windowTitle(), tr("Wrote %1.").arg(QDir::toNativeSeparators(path)));
    else
      QMessageBox::warning(this, windowTitle(), err);
  });
  connect(writeOnnxButton_, &QPushButton::clicked, this, [this] {
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Write QDQ ONNX"), baseName_ + "-int8.onnx", tr("ONNX model (*.onnx)"));
    if (path.isEmpty()) return;
    QString err;
    if (writeOnnx(path, &err))
      QMessageBox::information(this, windowTitle(),
                               tr("Wrote %1 (QuantizeLinear/DequantizeLinear, opset 13; validated by the ONNX "
                                  "checker).")
                                   .arg(QDir::toNativeSeparators(path)));
    else
      QMessageBox::warning(this, windowTitle(), err);
  });
}

bool Int8ExportDialog::isRunning() const { return watcher_.isRunning(); }

void Int8ExportDialog::setRunning(bool running) {
  quantizeButton_->setEnabled(!running);
  cancelButton_->setEnabled(running);
  calibration_->setEnabled(!running);
  method_->setEnabled(!running);
  holdout_->setEnabled(!running);
  floatLayers_->setEnabled(!running);
  writeModelButton_->setEnabled(!running && result_);
  writeOnnxButton_->setEnabled(!running && result_);
}

void Int8ExportDialog::startQuantize() {
  if (isRunning() || !source_) return;
  quant::PtqDataOptions d;
  d.calibration = calibration_->value();
  d.holdout = holdout_->value();
  quant::PtqOptions o;
  o.method = quant::parse_calibration_method(method_->currentData().toString().toStdString());
  for (int i = 0; i < floatLayers_->count(); ++i)
    if (floatLayers_->item(i)->checkState() == Qt::Checked)
      o.float_layers.push_back(floatLayers_->item(i)->text().toStdString());
  cancel_ = std::make_shared<std::atomic<bool>>(false);
  auto flag = cancel_;
  o.cancelled = [flag] { return flag->load(); };
  // Signals emitted on the worker reach the widgets queued (they live here).
  o.progress = [this](const std::string& s) { emit progressText(QString::fromStdString(s)); };
  o.progress_fraction = [this](double f) { emit progressFraction(f); };
  result_.reset();
  report_ = nlohmann::json();
  lastError_.clear();
  progress_->setValue(0);
  status_->setText(tr("Quantising…"));
  setRunning(true);
  const std::string model = modelPath_.toStdString(),
                    trial = tmp_.filePath(QStringLiteral("trial-int8.pmodel")).toStdString();
  auto source = source_;
  watcher_.setFuture(
      QtConcurrent::run([model, source, d, o, trial] { return runQuantize(model, source, d, o, trial); }));
}

void Int8ExportDialog::cancel() {
  if (!cancel_ || !isRunning()) return;
  *cancel_ = true;
  status_->setText(tr("Cancelling…"));
}

void Int8ExportDialog::onFinished() {
  Int8Outcome o = watcher_.result();
  if (o.cancelled) {
    status_->setText(tr("Cancelled: nothing was written."));
    progress_->setValue(0);
  } else if (!o.error.isEmpty()) {
    lastError_ = o.error;
    status_->setText(tr("Quantisation failed: %1").arg(o.error));
  } else {
    result_ = o.result;
    report_ = result_->result.report;
    showReport(o);
    progress_->setValue(1000);
    status_->setText(tr("Quantised %1. Check the report, then write the int8 model or its ONNX.")
                         .arg(QString::fromStdString(result_->result.qmodel->describe())));
  }
  setRunning(false);
  emit quantizeFinished(bool(result_));
}

QString Int8ExportDialog::className(int c) const {
  return c >= 0 && c < int(classNames_.size()) ? QString::fromStdString(classNames_[size_t(c)]) : QString::number(c);
}

void Int8ExportDialog::showReport(const Int8Outcome& o) {
  const nlohmann::json& r = report_;
  tabs_->setEnabled(true);
  const double fa = r.value("float_accuracy", 0.0), qa = r.value("int8_accuracy", 0.0);
  const double fb = r.value("float_file_bytes", 0.0), qb = r.value("int8_file_bytes", 0.0);
  const double fs = r.value("float_images_per_s", 0.0), qs_ = r.value("int8_images_per_s", 0.0);
  const auto& flips = r["flipped"];
  int worse = 0, better = 0;
  for (const auto& f : flips) {
    const int y = f.value("label", -1);
    worse += f.value("float", -1) == y;
    better += f.value("int8", -1) == y;
  }
  QStringList kept;
  for (const auto& n : r.value("float_layers", nlohmann::json::array()))
    kept << QString::fromStdString(n.get<std::string>());
  const QString change = points(qa - fa);
  const QString changeColor = qa - fa < -0.005 ? kWorse.name() : QStringLiteral("palette(text)");
  auto row = [](const QString& what, const QString& f, const QString& q, const QString& c, const QString& color = {}) {
    return QStringLiteral(
               "<tr><td style='padding:3px 14px 3px 0'>%1</td><td align=right style='padding:3px 14px'>%2"
               "</td><td align=right style='padding:3px 14px'><b>%3</b></td><td align=right "
               "style='padding:3px 0 3px 14px%5'>%4</td></tr>")
        .arg(what, f, q, c, color.isEmpty() ? QString() : QStringLiteral("; color:") + color);
  };
  QString html = QStringLiteral("<table cellspacing=0>");
  html += QStringLiteral(
              "<tr><th></th><th align=right style='padding:3px 14px'>float32</th><th align=right "
              "style='padding:3px 14px'>int8</th><th align=right style='padding:3px 0 3px 14px'>%1</th></tr>")
              .arg(tr("change"));
  const bool testSplit = r.value("eval_split", std::string("test")) == "test";
  const QString graded = testSplit ? tr("test images") : tr("images (the data has no test split)");
  html += row(tr("Accuracy (%1 %2)").arg(r.value("eval_images", 0)).arg(graded), percent(fa), percent(qa), change,
              changeColor);
  html += row(tr("Model file"), bytesText(fb), bytesText(qb),
              fb > 0 ? QStringLiteral("%1×").arg(qb / fb, 0, 'f', 2) : QStringLiteral("–"));
  html += row(tr("Inference (CPU)"), tr("%1 img/s").arg(fs, 0, 'f', 0), tr("%1 img/s").arg(qs_, 0, 'f', 0),
              fs > 0 ? QStringLiteral("%1×").arg(qs_ / fs, 0, 'f', 2) : QStringLiteral("–"));
  html += QStringLiteral("</table><p>");
  html += tr("<b>%1</b> %2 changed their prediction: %3 now wrong, %4 now right, the rest wrong either way.")
              .arg(flips.size())
              .arg(testSplit ? tr("test images") : tr("images"))
              .arg(worse)
              .arg(better);
  html += QStringLiteral("<br>") + tr("Layers kept float: %1.").arg(kept.isEmpty() ? tr("none") : kept.join(", "));
  html += QStringLiteral("<br><span style='color:palette(mid)'>") +
          tr("Calibrated with %1 on %2 training images; per-layer cost measured on %3 %4 (a layer stays float when it "
             "costs more than %5 points and more than %6 standard errors).")
              .arg(QString::fromStdString(r.value("method", std::string("?"))))
              .arg(r.value("calibration_images", 0))
              .arg(r.value("sensitivity_images", 0))
              .arg(QString::fromStdString(r.value("sensitivity_split", std::string("evaluation images"))))
              .arg(r.value("fallback_drop", 0.0) * 100, 0, 'f', 2)
              .arg(r.value("fallback_z", 0.0), 0, 'f', 1) +
          QStringLiteral("</span></p>");
  summary_->setText(html);

  const auto& pc = r.value("per_class", nlohmann::json::array());
  perClass_->setRowCount(int(pc.size()));
  for (int i = 0; i < int(pc.size()); ++i) {
    const auto& c = pc[size_t(i)];
    const double f = c.value("float", 0.0), q = c.value("int8", 0.0);
    perClass_->setItem(
        i, 0, cell(QString::fromStdString(c.value("class", std::string("?"))), Qt::AlignLeft | Qt::AlignVCenter));
    perClass_->setItem(i, 1, cell(QString::number(c.value("images", 0))));
    perClass_->setItem(i, 2, cell(percent(f)));
    perClass_->setItem(i, 3, cell(percent(q)));
    auto* ch = cell(points(q - f));
    if (q < f) ch->setForeground(kWorse);
    if (q > f) ch->setForeground(kBetter);
    perClass_->setItem(i, 4, ch);
  }
  const auto& sens = r.value("sensitivity", nlohmann::json::array());
  layers_->setRowCount(int(sens.size()));
  for (int i = 0; i < int(sens.size()); ++i) {
    const auto& l = sens[size_t(i)];
    const bool q = l.value("quantized", false);
    layers_->setItem(
        i, 0, cell(QString::fromStdString(l.value("layer", std::string("?"))), Qt::AlignLeft | Qt::AlignVCenter));
    auto* ch = cell(points(-l.value("drop", 0.0)));
    if (l.value("drop", 0.0) > l.value("threshold", 1.0)) ch->setForeground(kWorse);
    layers_->setItem(i, 1, ch);
    layers_->setItem(i, 2, cell(QStringLiteral("±%1 pt").arg(l.value("standard_error", 0.0) * 100, 0, 'f', 2)));
    layers_->setItem(i, 3, cell(QString::number(l.value("worse", 0))));
    layers_->setItem(i, 4, cell(QString::number(l.value("better", 0))));
    const QString reason = QString::fromStdString(l.value("reason", std::string()));
    auto* as =
        cell(q ? QStringLiteral("int8") : QStringLiteral("float") + (reason.isEmpty() ? QString() : " — " + reason),
             Qt::AlignLeft | Qt::AlignVCenter);
    if (!q) as->setForeground(kBothWrong.darker(130));
    layers_->setItem(i, 5, as);
  }
  showFlipped(o.flipped);
  tabs_->setTabText(3, tr("Flipped images (%1)").arg(flips.size()));
}

void Int8ExportDialog::showFlipped(const std::vector<quant::FlippedImage>& flipped) {
  std::vector<widgets::ImageGridItem> items;
  items.reserve(flipped.size());
  for (const auto& f : flipped) {
    widgets::ImageGridItem it;
    it.image = toQImage(image_from_chw(f.pixels.data(), int(f.shape[0]), int(f.shape[1]), int(f.shape[2])));
    it.caption =
        tr("true: %1\nfloat: %2\nint8: %3").arg(className(f.label), className(f.float_pred), className(f.int8_pred));
    it.accent = f.int8_pred == f.label ? kBetter : f.float_pred == f.label ? kWorse : kBothWrong;
    it.toolTip = tr("%1 #%2\n")
                     .arg(report_.value("eval_split", std::string("test")) == "test" ? tr("Test image") : tr("Image"))
                     .arg(f.index) +
                 it.caption;
    it.data = QVariant::fromValue<qlonglong>(f.index);
    items.push_back(std::move(it));
  }
  grid_->setItems(std::move(items));
  const size_t total = report_["flipped"].size();
  if (total > flipped.size())
    previewCaption_->setText(tr("Showing the first %1 of %2 flipped images.").arg(flipped.size()).arg(total));
  else
    previewCaption_->setText(flipped.empty() ? QString() : tr("Click an image to see it larger."));
  preview_->clear();
}

void Int8ExportDialog::showPreview(int row) {
  if (row < 0 || row >= grid_->count()) return;
  const auto& it = grid_->item(row);
  preview_->setPixmap(
      QPixmap::fromImage(it.image.scaled(preview_->size() - QSize(4, 4), Qt::KeepAspectRatio,
                                         it.image.width() < 96 ? Qt::FastTransformation : Qt::SmoothTransformation)));
  previewCaption_->setText(it.toolTip);
}

bool Int8ExportDialog::writePmodel(const QString& path, QString* error) {
  if (!result_) {
    if (error) *error = tr("Quantise first.");
    return false;
  }
  try {
    quant::write_int8_model(path.toStdString(), *result_);
    LoadedModel back = quant::load_any_model(path.toStdString());  // proves the file reads back as int8
    if (!back.model->inference_override()) throw Error(path.toStdString() + ": did not read back as an int8 model");
    report_ = result_->result.report;
    return true;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
}

bool Int8ExportDialog::writeOnnx(const QString& path, QString* error) {
  if (!result_) {
    if (error) *error = tr("Quantise first.");
    return false;
  }
  try {
    quant::export_qdq_onnx(path.toStdString(), *result_->result.qmodel, result_->model.meta);
    return true;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
}

}  // namespace perceptra::studio
