#include "widgets/image_grid.h"

#include <QApplication>
#include <QListView>
#include <QPainter>
#include <QPainterPath>
#include <QPixmapCache>
#include <QScrollBar>
#include <QStyledItemDelegate>
#include <QVBoxLayout>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>

#include "widgets/theme.h"

namespace perceptra::widgets {

// ---------------------------------------------------------------- model

int ImageGridModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(items_.size()); }

QVariant ImageGridModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() < 0 || index.row() >= int(items_.size())) return {};
  const ImageGridItem& it = items_[std::size_t(index.row())];
  switch (role) {
    case Qt::DisplayRole:
      return it.caption;
    case Qt::DecorationRole:
      return it.image;
    case Qt::ToolTipRole:
      return it.toolTip.isEmpty() ? it.caption : it.toolTip;
    case AccentRole:
      return it.accent;
    case PayloadRole:
      return it.data;
    default:
      return {};
  }
}

void ImageGridModel::setItems(std::vector<ImageGridItem> items) {
  beginResetModel();
  items_ = std::move(items);
  endResetModel();
}

void ImageGridModel::append(ImageGridItem item) {
  const int row = int(items_.size());
  beginInsertRows({}, row, row);
  items_.push_back(std::move(item));
  endInsertRows();
}

void ImageGridModel::updateItem(int row, ImageGridItem item) {
  if (row < 0 || row >= int(items_.size())) return;
  items_[std::size_t(row)] = std::move(item);
  emit dataChanged(index(row), index(row));
}

void ImageGridModel::clear() { setItems({}); }

// ---------------------------------------------------------------- delegate

class ImageGrid::Delegate : public QStyledItemDelegate {
 public:
  explicit Delegate(ImageGrid* grid) : QStyledItemDelegate(grid), grid_(grid) {}

  static constexpr int kPad = 5;

  QFont captionFont(const QFont& base) const {
    QFont f = base;
    f.setPointSizeF(std::max(7.0, base.pointSizeF() * 0.88));
    return f;
  }

  QSize cellSize(const QFont& base) const {
    const QFontMetrics fm(captionFont(base));
    const int t = grid_->thumb_;
    const int lines = grid_->captionLines_;
    // Captions need some width even when thumbnails are small: as wide as
    // the widest caption line shown (up to 17 characters), so short class
    // names pack more thumbnails per row.
    const int widest = std::min(fm.averageCharWidth() * 17, 140);
    const int captionW = grid_->captionWidth_ >= 0 ? std::min(grid_->captionWidth_ + 4, widest) : widest;
    const int w = std::max(t, lines > 0 ? captionW : 0) + 2 * kPad;
    const int h = kPad + t + (lines > 0 ? 4 + lines * fm.lineSpacing() : 0) + kPad;
    return {w, h};
  }

  QSize sizeHint(const QStyleOptionViewItem& option, const QModelIndex&) const override {
    return cellSize(option.font);
  }

  void paint(QPainter* p, const QStyleOptionViewItem& option, const QModelIndex& index) const override {
    p->save();
    p->setRenderHint(QPainter::Antialiasing);
    const QPalette& pal = option.palette;
    const QRectF cell = QRectF(option.rect).adjusted(1, 1, -1, -1);
    const bool selected = option.state & QStyle::State_Selected;
    const bool hover = option.state & QStyle::State_MouseOver;
    if (selected || hover) {
      QColor bg = pal.color(QPalette::Highlight);
      bg.setAlpha(selected ? 70 : 28);
      p->setPen(selected ? QPen(pal.color(QPalette::Highlight), 1.5) : QPen(Qt::NoPen));
      p->setBrush(bg);
      p->drawRoundedRect(cell, 5, 5);
    }

    const int t = grid_->thumb_;
    const QRect area(option.rect.left() + (option.rect.width() - t) / 2, option.rect.top() + kPad, t, t);
    const QImage img = index.data(Qt::DecorationRole).value<QImage>();
    if (!img.isNull()) {
      const QSize target = img.size().scaled(area.size(), Qt::KeepAspectRatio);
      const QString key = QStringLiteral("pgrid:%1:%2x%3").arg(img.cacheKey()).arg(target.width()).arg(target.height());
      QPixmap pm;
      if (!QPixmapCache::find(key, &pm)) {
        // Small images (28x28 digits) scaled up stay crisp with nearest
        // neighbour; large photos get smooth filtering.
        const bool upscale = target.width() >= 2 * img.width();
        pm = QPixmap::fromImage(
            img.scaled(target, Qt::KeepAspectRatio, upscale ? Qt::FastTransformation : Qt::SmoothTransformation));
        QPixmapCache::insert(key, pm);
      }
      const QRect imgRect(area.left() + (t - pm.width()) / 2, area.top() + (t - pm.height()) / 2, pm.width(),
                          pm.height());
      p->drawPixmap(imgRect.topLeft(), pm);
      const QColor accent = index.data(ImageGridModel::AccentRole).value<QColor>();
      if (accent.isValid()) {
        p->setBrush(Qt::NoBrush);
        p->setPen(QPen(accent, 2));
        p->drawRect(QRectF(imgRect).adjusted(-1, -1, 1, 1));
      }
    } else {
      p->setPen(Qt::NoPen);
      p->setBrush(pal.color(QPalette::AlternateBase));
      p->drawRect(area);
    }

    const int lines = grid_->captionLines_;
    const QString caption = index.data(Qt::DisplayRole).toString();
    if (lines > 0 && !caption.isEmpty()) {
      const QFont f = captionFont(option.font);
      const QFontMetrics fm(f);
      p->setFont(f);
      const QStringList parts = caption.split('\n');
      const int w = option.rect.width() - 2 * kPad;
      int y = area.bottom() + 4;
      QColor dim = pal.color(QPalette::Text);
      dim.setAlpha(165);
      for (int i = 0; i < std::min<int>(lines, int(parts.size())); ++i) {
        p->setPen(i == 0 ? pal.color(QPalette::Text) : dim);
        p->drawText(QRect(option.rect.left() + kPad, y, w, fm.lineSpacing()), Qt::AlignHCenter | Qt::AlignVCenter,
                    fm.elidedText(parts[i], Qt::ElideRight, w));
        y += fm.lineSpacing();
      }
    }
    p->restore();
  }

 private:
  ImageGrid* grid_;
};

// ---------------------------------------------------------------- view

namespace {
class GridListView : public QListView {
 public:
  using QListView::QListView;
  QString placeholder;

 protected:
  void paintEvent(QPaintEvent* event) override {
    QListView::paintEvent(event);
    if (model() && model()->rowCount() == 0 && !placeholder.isEmpty()) {
      QPainter p(viewport());
      QColor c = palette().color(QPalette::Text);
      c.setAlpha(130);
      p.setPen(c);
      p.drawText(viewport()->rect().adjusted(16, 16, -16, -16), Qt::AlignCenter | Qt::TextWordWrap, placeholder);
    }
  }
};
}  // namespace

ImageGrid::ImageGrid(QWidget* parent)
    : QWidget(parent), model_(new ImageGridModel(this)), view_(new GridListView(this)), delegate_(new Delegate(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(view_);
  view_->setModel(model_);
  view_->setItemDelegate(delegate_);
  view_->setViewMode(QListView::IconMode);
  view_->setResizeMode(QListView::Adjust);
  view_->setMovement(QListView::Static);
  view_->setFlow(QListView::LeftToRight);
  view_->setWrapping(true);
  view_->setUniformItemSizes(true);
  // Single-pass layout: with uniform item sizes it is cheap for thousands
  // of items, and scrolling to an item right after setItems() is exact.
  view_->setLayoutMode(QListView::SinglePass);
  view_->setSpacing(2);
  view_->setSelectionMode(QAbstractItemView::SingleSelection);
  view_->setVerticalScrollMode(QAbstractItemView::ScrollPerPixel);
  view_->verticalScrollBar()->setSingleStep(24);
  view_->setMouseTracking(true);
  view_->viewport()->setAttribute(Qt::WA_Hover);
  view_->setFrameShape(QFrame::NoFrame);
  view_->viewport()->installEventFilter(this);
  static_cast<GridListView*>(view_)->placeholder = tr("No images");

  connect(view_, &QAbstractItemView::clicked, this, [this](const QModelIndex& i) { emit itemClicked(i.row()); });
  connect(view_, &QAbstractItemView::activated, this, [this](const QModelIndex& i) { emit itemActivated(i.row()); });
  connect(view_->selectionModel(), &QItemSelectionModel::currentChanged, this,
          [this](const QModelIndex& cur) { emit currentIndexChanged(cur.isValid() ? cur.row() : -1); });
  updateGrid();
}

int ImageGrid::widestCaption(const ImageGridItem& item) const {
  const QFontMetrics fm(delegate_->captionFont(view_->font()));
  const QStringList parts = item.caption.split('\n');
  int w = 0;
  for (int i = 0; i < std::min<int>(captionLines_, int(parts.size())); ++i)
    w = std::max(w, fm.horizontalAdvance(parts[i]));
  return w;
}

void ImageGrid::measureCaptions() {
  captionWidth_ = count() > 0 ? 0 : -1;
  for (int i = 0; i < count(); ++i) captionWidth_ = std::max(captionWidth_, widestCaption(model_->item(i)));
}

void ImageGrid::updateGrid() {
  const QSize cell = delegate_->cellSize(view_->font());
  view_->setGridSize(cell + QSize(4, 4));
  view_->doItemsLayout();
  view_->viewport()->update();
}

void ImageGrid::setItems(std::vector<ImageGridItem> items) {
  model_->setItems(std::move(items));
  measureCaptions();
  updateGrid();
  view_->scrollToTop();
}
void ImageGrid::appendItem(ImageGridItem item) {
  const int w = widestCaption(item);
  model_->append(std::move(item));
  if (w > captionWidth_) {
    captionWidth_ = w;
    updateGrid();
  }
}
void ImageGrid::updateItem(int index, ImageGridItem item) {
  model_->updateItem(index, std::move(item));
  measureCaptions();
  updateGrid();
}
void ImageGrid::clear() {
  model_->clear();
  captionWidth_ = -1;
  updateGrid();
}
int ImageGrid::count() const { return model_->rowCount(); }
const ImageGridItem& ImageGrid::item(int index) const { return model_->item(index); }

void ImageGrid::setThumbnailSize(int px) {
  px = std::clamp(px, 24, 320);
  if (px == thumb_) return;
  thumb_ = px;
  updateGrid();
  emit thumbnailSizeChanged(px);
}

void ImageGrid::setCaptionLines(int lines) {
  captionLines_ = std::clamp(lines, 0, 6);
  measureCaptions();
  updateGrid();
}

void ImageGrid::setPlaceholderText(const QString& text) {
  static_cast<GridListView*>(view_)->placeholder = text;
  view_->viewport()->update();
}

void ImageGrid::setSelectionMode(QAbstractItemView::SelectionMode mode) { view_->setSelectionMode(mode); }

int ImageGrid::selectedIndex() const {
  const QModelIndex cur = view_->currentIndex();
  return cur.isValid() ? cur.row() : -1;
}

std::vector<int> ImageGrid::selectedIndexes() const {
  std::vector<int> rows;
  for (const QModelIndex& i : view_->selectionModel()->selectedIndexes()) rows.push_back(i.row());
  std::sort(rows.begin(), rows.end());
  return rows;
}

void ImageGrid::setSelectedIndex(int index) {
  if (index < 0 || index >= count()) {
    view_->selectionModel()->clear();
    return;
  }
  const QModelIndex i = model_->index(index);
  view_->selectionModel()->setCurrentIndex(i, QItemSelectionModel::ClearAndSelect);
  view_->scrollTo(i);
}

QRect ImageGrid::itemRect(int index) const {
  if (index < 0 || index >= count()) return {};
  const QRect r = view_->visualRect(model_->index(index));
  if (!r.isValid()) return {};
  return QRect(view_->viewport()->mapTo(this, r.topLeft()), r.size());
}

bool ImageGrid::eventFilter(QObject* watched, QEvent* event) {
  if (watched == view_->viewport() && event->type() == QEvent::Wheel) {
    auto* wheel = static_cast<QWheelEvent*>(event);
    if (wheel->modifiers() & Qt::ControlModifier) {
      const int steps = wheel->angleDelta().y() / 120;
      if (steps != 0) setThumbnailSize(int(thumb_ * std::pow(1.15, steps)));
      return true;
    }
  }
  if (watched == view_->viewport() && (event->type() == QEvent::FontChange || event->type() == QEvent::StyleChange)) {
    measureCaptions();
    updateGrid();
  }
  return QWidget::eventFilter(watched, event);
}

}  // namespace perceptra::widgets
