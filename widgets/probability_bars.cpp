#include "widgets/probability_bars.h"

#include <QEvent>
#include <QPainter>

#include <algorithm>
#include <numeric>

#include "widgets/theme.h"

namespace perceptra::widgets {

namespace {
constexpr int kPad = 8;
constexpr int kMinBar = 40;  // narrowest bar that still reads as a bar
const QColor kWrong(0xe8, 0x5d, 0x63);
const QColor kRight(0x4c, 0xc2, 0x7a);
}  // namespace

ProbabilityBars::ProbabilityBars(QWidget* parent) : QWidget(parent) {
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
}

void ProbabilityBars::setProbabilities(const std::vector<float>& probabilities, const QStringList& names) {
  probs_ = probabilities;
  if (!names.isEmpty()) names_ = names;
  updateGeometry();
  update();
}

void ProbabilityBars::setClassNames(const QStringList& names) {
  names_ = names;
  updateGeometry();
  update();
}

void ProbabilityBars::clear() {
  probs_.clear();
  true_ = -1;
  updateGeometry();
  update();
}

void ProbabilityBars::setTrueClass(int classIndex) {
  true_ = classIndex;
  update();
}

void ProbabilityBars::setTopK(int k) {
  k_ = std::max(0, k);
  update();
}

void ProbabilityBars::setSorted(bool sorted) {
  sorted_ = sorted;
  update();
}

void ProbabilityBars::setMaxRows(int rows) {
  maxRows_ = std::max(0, rows);
  updateGeometry();
  update();
}

QString ProbabilityBars::name(int i) const {
  return i >= 0 && i < names_.size() && !names_[i].isEmpty() ? names_[i] : QStringLiteral("class %1").arg(i);
}

float ProbabilityBars::probability(int i) const {
  return i >= 0 && i < int(probs_.size()) ? probs_[std::size_t(i)] : 0.0f;
}

std::vector<int> ProbabilityBars::topClasses() const {
  std::vector<int> order(probs_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return probs_[std::size_t(a)] > probs_[std::size_t(b)]; });
  order.resize(std::min(order.size(), std::size_t(k_)));
  return order;
}

int ProbabilityBars::predictedClass() const {
  if (probs_.empty()) return -1;
  return int(std::max_element(probs_.begin(), probs_.end()) - probs_.begin());
}

std::vector<int> ProbabilityBars::rowOrder() const {
  std::vector<int> order(probs_.size());
  std::iota(order.begin(), order.end(), 0);
  if (sorted_)
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return probs_[std::size_t(a)] > probs_[std::size_t(b)]; });
  if (maxRows_ > 0 && int(order.size()) > maxRows_) {
    // Keep the true class visible even when it ranks low.
    const bool trueHidden =
        true_ >= 0 && std::find(order.begin(), order.begin() + maxRows_, true_) == order.begin() + maxRows_;
    order.resize(std::size_t(maxRows_));
    if (trueHidden && true_ < int(probs_.size())) order.back() = true_;
  }
  return order;
}

int ProbabilityBars::rowHeight() const { return std::max(18, fontMetrics().height() + 8); }

int ProbabilityBars::percentWidth() const { return fontMetrics().horizontalAdvance(QStringLiteral("100.0%")) + 6; }

// The longest shown name in bold (plus the true-class marker): names are
// what the user reads, so the bars shrink first and names elide only when
// even a short bar no longer fits beside them.
int ProbabilityBars::fullNameColumnWidth() const {
  QFont boldFont = font();
  boldFont.setBold(true);
  const QFontMetrics fmBold(boldFont);
  int w = 0;
  for (int c : rowOrder()) w = std::max(w, fmBold.horizontalAdvance(name(c)) + 2);
  return w + 14;
}

int ProbabilityBars::nameColumnWidth() const {
  const int room = width() - 2 * kPad - 6 - percentWidth() - kMinBar;
  return std::max(std::min(fullNameColumnWidth(), room), std::min(fullNameColumnWidth(), 40));
}

QSize ProbabilityBars::sizeHint() const {
  const int rows = std::max<int>(3, int(rowOrder().size()));
  const int w = 2 * kPad + 6 + fullNameColumnWidth() + percentWidth() + 120;
  return {std::max(300, w), 2 * kPad + rows * rowHeight()};
}

QSize ProbabilityBars::minimumSizeHint() const {
  return {std::max(180, 2 * kPad + 6 + fullNameColumnWidth() + percentWidth() + kMinBar), 60};
}

void ProbabilityBars::paintEvent(QPaintEvent*) {
  QPainter p(this);
  const QPalette pal = palette();
  p.fillRect(rect(), pal.color(QPalette::Base));
  QColor dim = pal.color(QPalette::Text);
  dim.setAlpha(140);
  if (probs_.empty()) {
    p.setPen(dim);
    p.drawText(rect(), Qt::AlignCenter, tr("No prediction"));
    return;
  }
  const QFontMetrics fm(fontMetrics());
  const std::vector<int> order = rowOrder();
  const std::vector<int> top = topClasses();
  const int predicted = predictedClass();
  const int nameW = nameColumnWidth();
  const int pctW = percentWidth();
  const int barLeft = kPad + nameW + 6;
  const int barW = std::max(10, width() - barLeft - pctW - kPad);
  const int rh = rowHeight();
  const QColor accent = accentColor(pal);
  QColor track = pal.color(QPalette::Text);
  track.setAlpha(22);
  QColor rest = pal.color(QPalette::Text);
  rest.setAlpha(75);

  p.setRenderHint(QPainter::Antialiasing);
  for (std::size_t row = 0; row < order.size(); ++row) {
    const int c = order[row];
    const int y = kPad + int(row) * rh;
    const float prob = std::clamp(probability(c), 0.0f, 1.0f);
    const auto rank = std::find(top.begin(), top.end(), c);
    const bool isTop = rank != top.end();
    const bool isTrue = c == true_;

    // Name, with a marker for the true class.
    QFont f = font();
    f.setBold(isTrue || c == predicted);
    p.setFont(f);
    p.setPen(isTop || isTrue ? pal.color(QPalette::Text) : dim);
    p.drawText(QRect(kPad, y, nameW - 14, rh), Qt::AlignRight | Qt::AlignVCenter,
               QFontMetrics(f).elidedText(name(c), Qt::ElideRight, nameW - 14));
    if (isTrue) {
      p.setPen(Qt::NoPen);
      p.setBrush(kRight);
      p.drawEllipse(QPointF(kPad + nameW - 6, y + rh / 2.0), 3.5, 3.5);
    }

    // Track and bar.
    const QRectF trackRect(barLeft, y + rh * 0.2, barW, rh * 0.6);
    p.setPen(Qt::NoPen);
    p.setBrush(track);
    p.drawRoundedRect(trackRect, 3, 3);
    QColor fill = rest;
    if (isTop) {
      fill = accent;
      if (rank != top.begin()) fill.setAlpha(150);
    }
    if (c == predicted && true_ >= 0) fill = c == true_ ? kRight : kWrong;
    const double w = std::max(prob > 0 ? 2.0 : 0.0, barW * double(prob));
    if (w > 0) {
      p.setBrush(fill);
      p.drawRoundedRect(QRectF(trackRect.left(), trackRect.top(), w, trackRect.height()), 3, 3);
    }

    p.setFont(font());
    p.setPen(isTop ? pal.color(QPalette::Text) : dim);
    p.drawText(QRect(barLeft + barW + 4, y, pctW, rh), Qt::AlignLeft | Qt::AlignVCenter,
               QStringLiteral("%1%").arg(100.0 * prob, 0, 'f', 1));
  }
}

void ProbabilityBars::changeEvent(QEvent* event) {
  if (event->type() == QEvent::FontChange) updateGeometry();
  QWidget::changeEvent(event);
}

}  // namespace perceptra::widgets
