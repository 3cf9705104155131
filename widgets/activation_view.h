#pragma once
// Per-layer activation images (one tile grid per layer) stacked in a
// scrollable column with titles. setEntries() updates in place: one painted
// canvas, no widgets created or destroyed per refresh, so no flicker.
#include <QImage>
#include <QScrollArea>
#include <QString>

#include <vector>

namespace perceptra::widgets {

struct ActivationEntry {
  QString name;    // layer name, e.g. "conv1 (Conv2d)"
  QString detail;  // e.g. "32 × 28 × 28"
  QImage image;    // the tile grid (see tilePlanes in colormap.h)
};

class ActivationView : public QScrollArea {
  Q_OBJECT
 public:
  explicit ActivationView(QWidget* parent = nullptr);

  // Replaces all entries; keeps the scroll position.
  void setEntries(std::vector<ActivationEntry> entries);
  // Replaces one entry's image (and detail when non-empty), if it exists.
  void updateEntry(int index, const QImage& image, const QString& detail = {});
  void clear();
  int entryCount() const { return int(entries_.size()); }
  const ActivationEntry& entry(int index) const { return entries_[std::size_t(index)]; }

  // Largest integer upscale of small tiles (default 4; pixels stay crisp).
  void setMaxScale(int scale);
  void setPlaceholderText(const QString& text);
  // Rectangle of entry `index` in canvas coordinates (for tests / scrolling).
  QRect entryRect(int index) const;
  QWidget* canvas() const { return widget(); }

  QSize sizeHint() const override { return {360, 480}; }

 signals:
  void entryClicked(int index);

 protected:
  void resizeEvent(QResizeEvent* event) override;

 private:
  friend class ActivationCanvas;
  void relayout();

  std::vector<ActivationEntry> entries_;
  std::vector<QRect> rects_;       // card per entry
  std::vector<QRect> imageRects_;  // image inside the card
  int maxScale_ = 4;
  QString placeholder_;
};

}  // namespace perceptra::widgets
