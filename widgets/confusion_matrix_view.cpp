#include "widgets/confusion_matrix_view.h"

#include <QContextMenuEvent>
#include <QFile>
#include <QFileDialog>
#include <QHelpEvent>
#include <QMenu>
#include <QPainter>
#include <QPainterPath>
#include <QTextStream>
#include <QToolTip>

#include <algorithm>
#include <cmath>

#include "widgets/theme.h"

namespace perceptra::widgets {

namespace {
constexpr int kPad = 10;
constexpr int kBarWidth = 12;
constexpr int kMaxLabelWidth = 150;

QColor textOn(QRgb cell) { return qGray(cell) > 135 ? QColor(20, 22, 26) : QColor(245, 246, 248); }
}  // namespace

ConfusionMatrixView::ConfusionMatrixView(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setAttribute(Qt::WA_OpaquePaintEvent);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
  setFocusPolicy(Qt::ClickFocus);
}

void ConfusionMatrixView::setCounts(const std::vector<double>& counts, int n) {
  if (n <= 0 || counts.size() != std::size_t(n) * std::size_t(n)) {
    clear();
    return;
  }
  n_ = n;
  counts_ = counts;
  rowSums_.assign(std::size_t(n), 0.0);
  for (int t = 0; t < n; ++t)
    for (int p = 0; p < n; ++p) rowSums_[std::size_t(t)] += std::max(0.0, counts_[std::size_t(t * n + p)]);
  if (selTrue_ >= n || selPred_ >= n) selTrue_ = selPred_ = -1;
  hoverTrue_ = hoverPred_ = -1;
  relayout();
  update();
}

void ConfusionMatrixView::setCounts(const std::vector<std::int64_t>& counts, int n) {
  setCounts(std::vector<double>(counts.begin(), counts.end()), n);
}

void ConfusionMatrixView::clear() {
  n_ = 0;
  counts_.clear();
  rowSums_.clear();
  selTrue_ = selPred_ = hoverTrue_ = hoverPred_ = -1;
  relayout();
  update();
}

void ConfusionMatrixView::setClassNames(const QStringList& names) {
  names_ = names;
  relayout();
  update();
}

QString ConfusionMatrixView::className(int i) const {
  return i >= 0 && i < names_.size() && !names_[i].isEmpty() ? names_[i] : QString::number(i);
}

double ConfusionMatrixView::count(int t, int p) const {
  if (t < 0 || p < 0 || t >= n_ || p >= n_) return 0.0;
  return counts_[std::size_t(t * n_ + p)];
}

double ConfusionMatrixView::rowTotal(int t) const { return t >= 0 && t < n_ ? rowSums_[std::size_t(t)] : 0.0; }

double ConfusionMatrixView::displayedValue(int t, int p) const {
  const double c = count(t, p);
  if (!normalized_) return c;
  const double row = rowTotal(t);
  return row > 0 ? c / row : 0.0;
}

double ConfusionMatrixView::total() const {
  double s = 0;
  for (double r : rowSums_) s += r;
  return s;
}

double ConfusionMatrixView::accuracy() const {
  const double tot = total();
  if (tot <= 0) return 0.0;
  double diag = 0;
  for (int i = 0; i < n_; ++i) diag += count(i, i);
  return diag / tot;
}

double ConfusionMatrixView::maxDisplayed() const {
  if (normalized_) return 1.0;
  double m = 0;
  for (double c : counts_) m = std::max(m, c);
  return m;
}

void ConfusionMatrixView::setNormalized(bool on) {
  if (on == normalized_) return;
  normalized_ = on;
  relayout();
  update();
  emit normalizedChanged(on);
}

void ConfusionMatrixView::setColormap(Colormap map) {
  map_ = map;
  update();
}

void ConfusionMatrixView::setSelectedCell(int t, int p) {
  if (t < 0 || p < 0 || t >= n_ || p >= n_) {
    clearSelection();
    return;
  }
  selTrue_ = t;
  selPred_ = p;
  update();
}

void ConfusionMatrixView::clearSelection() {
  selTrue_ = selPred_ = -1;
  update();
}

QString ConfusionMatrixView::cellText(int t, int p) const {
  if (normalized_) {
    const double v = displayedValue(t, p);
    if (v <= 0) return QStringLiteral("0");
    if (v >= 0.995) return QStringLiteral("1.0");
    return QString::number(v, 'f', 2).mid(1);  // ".87": compact in small cells
  }
  return QString::number(std::llround(count(t, p)));
}

void ConfusionMatrixView::relayout() {
  Geometry g;
  const QFontMetrics fm(font());
  QFont bold = font();
  bold.setBold(true);  // the selected row/column label is bold: size for it
  const QFontMetrics fmBold(bold);
  for (int i = 0; i < n_; ++i) g.labelWidth = std::max(g.labelWidth, fmBold.horizontalAdvance(className(i)) + 2);
  g.labelWidth = std::min(g.labelWidth, kMaxLabelWidth);
  const int titleH = fm.height();
  const QString maxTick = normalized_ ? QStringLiteral("100%") : QString::number(std::llround(maxDisplayed()));
  const int right = kPad + kBarWidth + 6 + fm.horizontalAdvance(maxTick) + 10;
  const int left = kPad + titleH + 8 + g.labelWidth + 6;
  const int top = kPad;
  const double availW = std::max(10, width() - left - right);
  const double estCell = n_ > 0 ? availW / n_ : availW;
  g.rotated = g.labelWidth > estCell - 4;
  const int labelsH = g.rotated ? int(std::ceil((g.labelWidth + fm.height()) * 0.7072)) + 4 : fm.height() + 4;
  const int bottom = kPad + titleH + 6 + labelsH;
  const double availH = std::max(10, height() - top - bottom);
  if (n_ > 0) {
    g.cell = std::max(2.0, std::floor(std::min(availW, availH) / n_));
    const int size = int(g.cell * n_);
    const int x = left + int((availW - size) / 2);
    const int y = top + int((availH - size) / 2);
    g.grid = QRect(x, y, size, size);
    g.colorBar = QRect(g.grid.right() + 16, g.grid.top(), kBarWidth, size);
  }
  geo_ = g;
}

QRect ConfusionMatrixView::cellRect(int t, int p) const {
  if (t < 0 || p < 0 || t >= n_ || p >= n_) return {};
  const int c = int(geo_.cell);
  return QRect(geo_.grid.left() + p * c, geo_.grid.top() + t * c, c, c);
}

bool ConfusionMatrixView::cellAt(const QPoint& pos, int* t, int* p) const {
  if (n_ <= 0 || !geo_.grid.contains(pos)) return false;
  const int c = int(geo_.cell);
  const int col = (pos.x() - geo_.grid.left()) / c, row = (pos.y() - geo_.grid.top()) / c;
  if (row < 0 || col < 0 || row >= n_ || col >= n_) return false;
  if (t) *t = row;
  if (p) *p = col;
  return true;
}

QSize ConfusionMatrixView::sizeHint() const {
  const int n = std::max(n_, 10);
  return {std::min(760, 200 + n * 42), std::min(700, 150 + n * 42)};
}

void ConfusionMatrixView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  const QPalette pal = palette();
  const QColor base = pal.color(QPalette::Base), text = pal.color(QPalette::WindowText);
  QColor dim = text;
  dim.setAlpha(150);
  const QColor accent = accentColor(pal);
  painter.fillRect(rect(), base);
  painter.setRenderHint(QPainter::TextAntialiasing);

  if (n_ <= 0) {
    painter.setPen(dim);
    painter.drawText(rect().adjusted(20, 20, -20, -20), Qt::AlignCenter | Qt::TextWordWrap,
                     tr("No confusion matrix yet.\nIt appears after the first validation pass."));
    return;
  }

  const QFontMetrics fm(font());
  const double maxV = std::max(maxDisplayed(), 1e-12);
  const int c = int(geo_.cell);
  const int gap = c >= 12 ? 1 : 0;

  // Cell text font: as large as the cell allows, hidden when unreadable.
  QFont cellFont = font();
  int px = std::clamp(int(c * 0.3), 6, 13);
  cellFont.setPixelSize(px);
  int widest = 0;
  for (int t = 0; t < n_; ++t)
    for (int p = 0; p < n_; ++p) widest = std::max(widest, QFontMetrics(cellFont).horizontalAdvance(cellText(t, p)));
  while (px > 7 && widest > c - 4) {
    cellFont.setPixelSize(--px);
    widest = 0;
    for (int t = 0; t < n_; ++t)
      for (int p = 0; p < n_; ++p) widest = std::max(widest, QFontMetrics(cellFont).horizontalAdvance(cellText(t, p)));
  }
  // Below 8 px the numbers are noise: leave the colours (and the tool tip) to speak.
  const bool showText = widest <= c - 4 && px >= 8;

  painter.setFont(cellFont);
  for (int t = 0; t < n_; ++t) {
    for (int p = 0; p < n_; ++p) {
      const QRect r = cellRect(t, p).adjusted(0, 0, -gap, -gap);
      const double v = displayedValue(t, p);
      const QRgb rgb = colormapRgb(map_, v / maxV);
      painter.fillRect(r, QColor::fromRgb(rgb));
      if (showText) {
        QColor tc = textOn(rgb);
        if (count(t, p) == 0) tc.setAlpha(90);
        painter.setPen(tc);
        painter.drawText(r, Qt::AlignCenter, cellText(t, p));
      }
    }
  }

  painter.setRenderHint(QPainter::Antialiasing);
  if (hoverTrue_ >= 0 && !(hoverTrue_ == selTrue_ && hoverPred_ == selPred_)) {
    QColor hc = text;
    hc.setAlpha(200);
    painter.setPen(QPen(hc, 1.5));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(QRectF(cellRect(hoverTrue_, hoverPred_)).adjusted(0.75, 0.75, -0.75 - gap, -0.75 - gap));
  }
  if (selTrue_ >= 0) {
    const QRectF r = QRectF(cellRect(selTrue_, selPred_)).adjusted(-1, -1, 1 - gap, 1 - gap);
    painter.setPen(QPen(base, 4.5));
    painter.drawRect(r);
    painter.setPen(QPen(accent.lighter(isDarkPalette(pal) ? 125 : 100), 2.5));
    painter.drawRect(r);
  }
  painter.setRenderHint(QPainter::Antialiasing, false);

  // Axis labels.
  painter.setFont(font());
  auto labelColor = [&](bool selected) { return selected ? accent.lighter(isDarkPalette(pal) ? 130 : 100) : text; };
  // When cells are smaller than a line of text, label every k-th class
  // (always the selected one) instead of overprinting.
  const int rowStep = std::max(1, int(std::ceil((fm.height() - 2) / double(c))));
  const int colStep = geo_.rotated ? std::max(1, int(std::ceil((fm.height() - 2) / (c * 0.7071)))) : 1;
  for (int t = 0; t < n_; ++t) {
    if (t % rowStep != 0 && t != selTrue_) continue;
    const QRect r = cellRect(t, 0);
    const QRect lr(geo_.grid.left() - 6 - geo_.labelWidth, r.top() + c / 2 - fm.height(), geo_.labelWidth,
                   2 * fm.height());
    QFont f = font();
    f.setBold(t == selTrue_);
    painter.setFont(f);
    painter.setPen(labelColor(t == selTrue_));
    painter.drawText(lr, Qt::AlignRight | Qt::AlignVCenter,
                     QFontMetrics(f).elidedText(className(t), Qt::ElideRight, geo_.labelWidth));
  }
  const int labelTop = geo_.grid.bottom() + 6;
  for (int p = 0; p < n_; ++p) {
    if (p % colStep != 0 && p != selPred_) continue;
    const QRect r = cellRect(0, p);
    QFont f = font();
    f.setBold(p == selPred_);
    painter.setFont(f);
    painter.setPen(labelColor(p == selPred_));
    const QFontMetrics lfm(f);
    const QString name = lfm.elidedText(className(p), Qt::ElideRight, geo_.labelWidth);
    const int w = lfm.horizontalAdvance(name) + 2;
    if (!geo_.rotated) {
      painter.drawText(QRect(r.left() + c / 2 - w / 2, labelTop, w, fm.height()), Qt::AlignCenter, name);
    } else {
      painter.save();
      painter.setRenderHint(QPainter::Antialiasing);
      painter.translate(r.left() + c / 2.0 + fm.ascent() * 0.35, labelTop);
      painter.rotate(-45);
      painter.drawText(QRect(-w - 2, -fm.height() / 2, w, fm.height()), Qt::AlignRight | Qt::AlignVCenter, name);
      painter.restore();
    }
  }
  // Axis titles.
  QFont titleFont = font();
  titleFont.setBold(true);
  painter.setFont(titleFont);
  painter.setPen(dim);
  painter.drawText(QRect(geo_.grid.left(), height() - kPad - fm.height(), geo_.grid.width(), fm.height()),
                   Qt::AlignCenter, tr("Predicted class"));
  painter.save();
  painter.translate(kPad, geo_.grid.center().y());
  painter.rotate(-90);
  painter.drawText(QRect(-geo_.grid.height() / 2, 0, geo_.grid.height(), fm.height()), Qt::AlignCenter,
                   tr("True class"));
  painter.restore();

  // Colour scale.
  const QRect bar = geo_.colorBar;
  for (int y = 0; y < bar.height(); ++y) {
    const double tv = 1.0 - double(y) / std::max(1, bar.height() - 1);
    painter.fillRect(QRect(bar.left(), bar.top() + y, bar.width(), 1), QColor::fromRgb(colormapRgb(map_, tv)));
  }
  QColor frame = text;
  frame.setAlpha(60);
  painter.setPen(frame);
  painter.setBrush(Qt::NoBrush);
  painter.drawRect(bar.adjusted(0, 0, -1, -1));
  painter.setFont(font());
  painter.setPen(dim);
  for (int k = 0; k <= 4; ++k) {
    const double f = k / 4.0;
    const int y = bar.bottom() - int(f * (bar.height() - 1));
    QString label;
    if (normalized_)
      label = QStringLiteral("%1%").arg(int(f * 100));
    else
      label = QString::number(std::llround(f * maxDisplayed()));
    painter.drawLine(bar.right() + 1, y, bar.right() + 4, y);
    painter.drawText(QRect(bar.right() + 7, y - fm.height() / 2, 80, fm.height()), Qt::AlignLeft | Qt::AlignVCenter,
                     label);
  }
}

bool ConfusionMatrixView::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(e);
    int t = -1, p = -1;
    if (cellAt(help->pos(), &t, &p)) {
      const double c = count(t, p), row = rowTotal(t);
      const QString pct = row > 0 ? QString::number(100.0 * c / row, 'f', 1) : QStringLiteral("0");
      QString tip = tr("<b>true</b> %1<br><b>predicted</b> %2<br>%3 images (%4% of true %1)")
                        .arg(className(t).toHtmlEscaped(), className(p).toHtmlEscaped())
                        .arg(std::llround(c))
                        .arg(pct);
      if (t != p && c > 0) tip += tr("<br><i>click to inspect these images</i>");
      QToolTip::showText(help->globalPos(), tip, this, cellRect(t, p));
    } else {
      QToolTip::hideText();
      e->ignore();
    }
    return true;
  }
  return QWidget::event(e);
}

void ConfusionMatrixView::mouseMoveEvent(QMouseEvent* event) {
  int t = -1, p = -1;
  if (!cellAt(event->pos(), &t, &p)) t = p = -1;
  if (t != hoverTrue_ || p != hoverPred_) {
    hoverTrue_ = t;
    hoverPred_ = p;
    setCursor(t >= 0 ? Qt::PointingHandCursor : Qt::ArrowCursor);
    update();
  }
  QWidget::mouseMoveEvent(event);
}

void ConfusionMatrixView::leaveEvent(QEvent* event) {
  hoverTrue_ = hoverPred_ = -1;
  update();
  QWidget::leaveEvent(event);
}

void ConfusionMatrixView::mousePressEvent(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) {
    QWidget::mousePressEvent(event);
    return;
  }
  int t = -1, p = -1;
  if (cellAt(event->pos(), &t, &p)) {
    selTrue_ = t;
    selPred_ = p;
    update();
    emit cellClicked(t, p);
  } else if (selTrue_ >= 0) {
    clearSelection();
    emit selectionCleared();
  }
}

void ConfusionMatrixView::contextMenuEvent(QContextMenuEvent* event) {
  QMenu menu(this);
  QAction* norm = menu.addAction(tr("Normalise rows"));
  norm->setCheckable(true);
  norm->setChecked(normalized_);
  connect(norm, &QAction::toggled, this, &ConfusionMatrixView::setNormalized);
  QMenu* maps = menu.addMenu(tr("Colour map"));
  for (Colormap m : {Colormap::Viridis, Colormap::Magma, Colormap::Gray}) {
    QAction* a = maps->addAction(colormapName(m));
    a->setCheckable(true);
    a->setChecked(m == map_);
    connect(a, &QAction::triggered, this, [this, m] { setColormap(m); });
  }
  menu.addSeparator();
  menu.addAction(tr("Export PNG…"), this, [this] {
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Export confusion matrix"), "confusion.png", tr("PNG images (*.png)"));
    if (!path.isEmpty()) exportPng(path);
  });
  menu.addAction(tr("Export CSV…"), this, [this] {
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Export confusion matrix"), "confusion.csv", tr("CSV files (*.csv)"));
    if (path.isEmpty()) return;
    QFile f(path);
    if (f.open(QIODevice::WriteOnly | QIODevice::Text)) f.write(toCsv().toUtf8());
  });
  menu.exec(event->globalPos());
}

QString ConfusionMatrixView::toCsv() const {
  auto quote = [](QString s) {
    if (s.contains(',') || s.contains('"')) s = '"' + s.replace('"', "\"\"") + '"';
    return s;
  };
  QString out;
  QTextStream ts(&out);
  ts << "true\\predicted";
  for (int p = 0; p < n_; ++p) ts << ',' << quote(className(p));
  ts << '\n';
  for (int t = 0; t < n_; ++t) {
    ts << quote(className(t));
    for (int p = 0; p < n_; ++p) ts << ',' << QString::number(count(t, p), 'g', 12);
    ts << '\n';
  }
  return out;
}

bool ConfusionMatrixView::exportPng(const QString& path) { return grab().save(path, "PNG"); }

void ConfusionMatrixView::resizeEvent(QResizeEvent* event) {
  relayout();
  QWidget::resizeEvent(event);
}

void ConfusionMatrixView::changeEvent(QEvent* event) {
  if (event->type() == QEvent::FontChange) relayout();
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::FontChange) update();
  QWidget::changeEvent(event);
}

}  // namespace perceptra::widgets
