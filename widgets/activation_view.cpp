#include "widgets/activation_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <QScrollBar>
#include <QStyle>

#include <algorithm>

namespace perceptra::widgets {

namespace {
constexpr int kMargin = 8;   // around the column
constexpr int kPad = 8;      // inside a card
constexpr int kSpacing = 8;  // between cards
}  // namespace

class ActivationCanvas : public QWidget {
 public:
  explicit ActivationCanvas(ActivationView* view) : QWidget(nullptr), view_(view) {
    setAttribute(Qt::WA_OpaquePaintEvent);
  }

 protected:
  void paintEvent(QPaintEvent* event) override {
    QPainter p(this);
    const QPalette pal = palette();
    p.fillRect(event->rect(), pal.color(QPalette::Base));
    if (view_->entries_.empty()) {
      QColor c = pal.color(QPalette::Text);
      c.setAlpha(130);
      p.setPen(c);
      p.drawText(rect().adjusted(16, 16, -16, -16), Qt::AlignCenter | Qt::TextWordWrap, view_->placeholder_);
      return;
    }
    const QFontMetrics fm(font());
    QFont bold = font();
    bold.setBold(true);
    const QFontMetrics fmBold(bold);
    QColor dim = pal.color(QPalette::Text);
    dim.setAlpha(150);
    for (std::size_t i = 0; i < view_->entries_.size(); ++i) {
      const QRect card = view_->rects_[i];
      if (!card.intersects(event->rect())) continue;
      const ActivationEntry& e = view_->entries_[i];
      p.setRenderHint(QPainter::Antialiasing);
      p.setPen(QPen(pal.color(QPalette::Mid), 1));
      p.setBrush(pal.color(QPalette::AlternateBase));
      p.drawRoundedRect(QRectF(card).adjusted(0.5, 0.5, -0.5, -0.5), 5, 5);
      p.setRenderHint(QPainter::Antialiasing, false);
      const int textW = card.width() - 2 * kPad;
      p.setFont(bold);
      p.setPen(pal.color(QPalette::Text));
      const QString name = fmBold.elidedText(e.name, Qt::ElideRight, textW * 2 / 3);
      p.drawText(QPoint(card.left() + kPad, card.top() + kPad + fmBold.ascent()), name);
      if (!e.detail.isEmpty()) {
        p.setFont(font());
        p.setPen(dim);
        const int x = card.left() + kPad + fmBold.horizontalAdvance(name) + 8;
        p.drawText(QRect(x, card.top() + kPad, card.right() - kPad - x, fm.height()), Qt::AlignRight | Qt::AlignVCenter,
                   fm.elidedText(e.detail, Qt::ElideLeft, card.right() - kPad - x));
      }
      const QRect ir = view_->imageRects_[i];
      if (!e.image.isNull() && ir.isValid()) {
        // Upscaled tiles stay crisp; downscaled grids are filtered.
        p.setRenderHint(QPainter::SmoothPixmapTransform, ir.width() % e.image.width() != 0);
        p.drawImage(ir, e.image);
      } else {
        p.setPen(dim);
        p.drawText(ir, Qt::AlignCenter, QObject::tr("no image"));
      }
    }
  }

  void mousePressEvent(QMouseEvent* event) override {
    if (event->button() != Qt::LeftButton) return;
    for (std::size_t i = 0; i < view_->rects_.size(); ++i)
      if (view_->rects_[i].contains(event->pos())) {
        emit view_->entryClicked(int(i));
        return;
      }
  }

 private:
  ActivationView* view_;
};

ActivationView::ActivationView(QWidget* parent) : QScrollArea(parent), placeholder_(tr("No activations yet.")) {
  setWidget(new ActivationCanvas(this));
  setWidgetResizable(false);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setFrameShape(QFrame::NoFrame);
  verticalScrollBar()->setSingleStep(24);
  relayout();
}

void ActivationView::setEntries(std::vector<ActivationEntry> entries) {
  const bool sameLayout =
      entries.size() == entries_.size() &&
      std::equal(entries.begin(), entries.end(), entries_.begin(),
                 [](const ActivationEntry& a, const ActivationEntry& b) { return a.image.size() == b.image.size(); });
  entries_ = std::move(entries);
  if (!sameLayout) relayout();
  widget()->update();
}

void ActivationView::updateEntry(int index, const QImage& image, const QString& detail) {
  if (index < 0 || index >= entryCount()) return;
  ActivationEntry& e = entries_[std::size_t(index)];
  const bool resized = e.image.size() != image.size();
  e.image = image;
  if (!detail.isEmpty()) e.detail = detail;
  if (resized) {
    relayout();
    widget()->update();
  } else {
    widget()->update(rects_[std::size_t(index)]);
  }
}

void ActivationView::clear() { setEntries({}); }

void ActivationView::setMaxScale(int scale) {
  maxScale_ = std::clamp(scale, 1, 16);
  relayout();
  widget()->update();
}

void ActivationView::setPlaceholderText(const QString& text) {
  placeholder_ = text;
  widget()->update();
}

QRect ActivationView::entryRect(int index) const {
  return index >= 0 && index < int(rects_.size()) ? rects_[std::size_t(index)] : QRect();
}

void ActivationView::relayout() {
  QWidget* canvas = widget();
  // Width reserves the scroll bar whether shown or not: depending on the
  // viewport width would make the bar toggle in a resize loop.
  const int bar = style()->pixelMetric(QStyle::PM_ScrollBarExtent, nullptr, this);
  const int width = std::max(120, contentsRect().width() - bar);
  const QFontMetrics fm(canvas->font());
  const int titleH = fm.height() + 6;
  const int inner = width - 2 * kMargin - 2 * kPad;
  rects_.clear();
  imageRects_.clear();
  int y = kMargin;
  for (const ActivationEntry& e : entries_) {
    QSize s(inner, 40);
    if (!e.image.isNull()) {
      const double fit = double(inner) / e.image.width();
      if (fit >= 2.0) {
        // Integer factors keep every activation pixel the same size.
        const int k = std::min(maxScale_, int(fit));
        s = e.image.size() * k;
      } else if (fit > 1.0) {
        const double k = std::min<double>(maxScale_, fit);
        s = QSize(int(e.image.width() * k), int(e.image.height() * k));
      } else {
        s = QSize(inner, std::max(1, int(e.image.height() * fit)));
      }
    }
    const QRect card(kMargin, y, width - 2 * kMargin, kPad + titleH + s.height() + kPad);
    const int x = card.left() + kPad + (inner - s.width()) / 2;
    imageRects_.push_back(QRect(x, card.top() + kPad + titleH, s.width(), s.height()));
    rects_.push_back(card);
    y = card.bottom() + 1 + kSpacing;
  }
  const int height = entries_.empty() ? viewport()->height() : std::max(y - kSpacing + kMargin, viewport()->height());
  canvas->resize(width, height);
}

void ActivationView::resizeEvent(QResizeEvent* event) {
  QScrollArea::resizeEvent(event);
  relayout();
}

}  // namespace perceptra::widgets
