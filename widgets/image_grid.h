#pragma once
// A scrollable grid of thumbnails with captions (model/view: a list model
// and an icon-mode QListView with a custom delegate, so hundreds of items
// stay cheap). Ctrl+wheel scales the thumbnails; clicks emit itemClicked.
#include <QAbstractListModel>
#include <QAbstractItemView>
#include <QColor>
#include <QImage>
#include <QVariant>
#include <QWidget>

#include <vector>

class QListView;

namespace perceptra::widgets {

struct ImageGridItem {
  QImage image;
  QString caption;  // '\n' separates lines, e.g. "true: Coat\npred: Shirt 0.81\nloss 2.30"
  QColor accent;    // frame colour around the thumbnail (invalid: none), e.g. red for a mistake
  QString toolTip;  // empty: the caption
  QVariant data;    // the caller's payload (dataset index, ...)
};

class ImageGridModel : public QAbstractListModel {
  Q_OBJECT
 public:
  enum Role { AccentRole = Qt::UserRole + 1, PayloadRole };
  using QAbstractListModel::QAbstractListModel;

  int rowCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;

  void setItems(std::vector<ImageGridItem> items);
  void append(ImageGridItem item);
  void updateItem(int row, ImageGridItem item);
  void clear();
  const ImageGridItem& item(int row) const { return items_[std::size_t(row)]; }

 private:
  std::vector<ImageGridItem> items_;
};

class ImageGrid : public QWidget {
  Q_OBJECT
 public:
  explicit ImageGrid(QWidget* parent = nullptr);

  void setItems(std::vector<ImageGridItem> items);
  void appendItem(ImageGridItem item);
  void updateItem(int index, ImageGridItem item);
  void clear();
  int count() const;
  const ImageGridItem& item(int index) const;

  // Edge of the square thumbnail area in pixels (clamped to 24..320).
  void setThumbnailSize(int px);
  int thumbnailSize() const { return thumb_; }
  // Caption lines reserved under each thumbnail (0..6, default 2).
  void setCaptionLines(int lines);
  int captionLines() const { return captionLines_; }
  void setPlaceholderText(const QString& text);

  void setSelectionMode(QAbstractItemView::SelectionMode mode);
  int selectedIndex() const;  // current item, -1 when none
  std::vector<int> selectedIndexes() const;
  void setSelectedIndex(int index);  // selects and scrolls to it (no itemClicked)

  // Rectangle of item `index` in this widget's coordinates (empty when not laid out).
  QRect itemRect(int index) const;

  QListView* view() const { return view_; }
  ImageGridModel* model() const { return model_; }
  QSize sizeHint() const override { return {560, 420}; }

 signals:
  void itemClicked(int index);
  void itemActivated(int index);        // double click or Enter
  void currentIndexChanged(int index);  // -1 when cleared
  void thumbnailSizeChanged(int px);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void updateGrid();
  void measureCaptions();
  int widestCaption(const ImageGridItem& item) const;

  ImageGridModel* model_;
  QListView* view_;
  class Delegate;
  Delegate* delegate_;
  int thumb_ = 72;
  int captionLines_ = 2;
  int captionWidth_ = -1;  // widest shown caption line in pixels; -1: no items
};

}  // namespace perceptra::widgets
