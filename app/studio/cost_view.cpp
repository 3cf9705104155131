#include "app/studio/cost_view.h"

#include <QLabel>
#include <QLocale>
#include <QTextDocument>
#include <QVBoxLayout>

#include "core/train/progress_text.h"

namespace perceptra::studio {

namespace {
QString qstr(const std::string& s) { return QString::fromStdString(s); }

QString flopsText(double f) {
  if (f >= 1e9) return QObject::tr("%1 GFLOP").arg(f / 1e9, 0, 'f', 2);
  if (f >= 1e6) return QObject::tr("%1 MFLOP").arg(f / 1e6, 0, 'f', 1);
  return QObject::tr("%1 kFLOP").arg(f / 1e3, 0, 'f', 1);
}
}  // namespace

QString verdictColor(CostVerdict v) {
  switch (v) {
    case CostVerdict::Fits:
      return QStringLiteral("#3fb950");
    case CostVerdict::Large:
      return QStringLiteral("#d29922");
    case CostVerdict::TooLarge:
      return QStringLiteral("#f85149");
  }
  return QString();
}

QString costHtml(const CostEstimate& e) {
  QLocale loc;
  const QString verdict = e.verdict == CostVerdict::Fits    ? QObject::tr("fits")
                          : e.verdict == CostVerdict::Large ? QObject::tr("large: training asks first")
                                                            : QObject::tr("too large: training is refused");
  QString speed = qstr(speed_text(e.images_per_s, e.batch_size));
  if (speed.isEmpty()) speed = QObject::tr("unknown");
  QString html =
      QObject::tr("<b>Cost estimate</b> · input %1 · batch %2<br>").arg(qstr(e.model.input.str())).arg(e.batch_size);
  html += QObject::tr("%1 parameters · %2 per image<br>")
              .arg(loc.toString(qlonglong(e.model.parameters)))
              .arg(flopsText(e.flops_per_image));
  html += QObject::tr("activations %1 per training batch · %2 per inference batch of %3<br>")
              .arg(qstr(bytes_text(e.train_activation_bytes)), qstr(bytes_text(e.infer_activation_bytes)))
              .arg(e.inference_batch);
  html += QObject::tr("peak memory ≈ <b>%1</b> of %2 available · expected ≈ %3<br>")
              .arg(qstr(bytes_text(e.peak_train_bytes)), qstr(bytes_text(e.limit.bytes)), speed.toHtmlEscaped());
  html += QObject::tr("<span style='color:%1'>■ %2</span>").arg(verdictColor(e.verdict), verdict);
  if (e.verdict == CostVerdict::TooLarge) html += QStringLiteral("<br>") + qstr(e.suggestion()).toHtmlEscaped();
  return html;
}

CostView::CostView(QWidget* parent) : QFrame(parent) {
  setObjectName("costView");
  setFrameShape(QFrame::StyledPanel);
  auto* l = new QVBoxLayout(this);
  l->setContentsMargins(6, 4, 6, 4);
  label_ = new QLabel(this);
  label_->setObjectName("costText");
  label_->setWordWrap(true);
  label_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  l->addWidget(label_);
  setUnavailable(tr("Open a dataset to see what a run will cost."));
}

void CostView::setEstimate(const CostEstimate& e) {
  estimate_ = e;
  unavailable_.clear();
  measured_.clear();
  setToolTip(qstr(e.text()));
  render();
}

void CostView::setUnavailable(const QString& why) {
  estimate_.reset();
  unavailable_ = why;
  setToolTip(QString());
  render();
}

void CostView::setMeasured(double imagesPerS, int64_t batchSize) {
  const QString s = qstr(speed_text(imagesPerS, batchSize));
  measured_ = s.isEmpty() ? QString() : tr("measured %1").arg(s);
  render();
}

void CostView::render() {
  QString html = estimate_ ? costHtml(*estimate_) : tr("<b>Cost estimate</b><br>%1").arg(unavailable_.toHtmlEscaped());
  if (!measured_.isEmpty()) html += QStringLiteral("<br>") + measured_.toHtmlEscaped();
  label_->setText(html);
}

QString CostView::text() const {
  QTextDocument d;
  d.setHtml(label_->text());
  return d.toPlainText();
}

}  // namespace perceptra::studio
