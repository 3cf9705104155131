#include "app/studio/app_icon.h"

#include <QPainter>
#include <QPixmap>

namespace perceptra::studio {

namespace {
QPixmap draw(int size) {
  QPixmap pm(size, size);
  pm.fill(Qt::transparent);
  QPainter p(&pm);
  p.setRenderHint(QPainter::Antialiasing);
  p.scale(size / 128.0, size / 128.0);
  p.setPen(Qt::NoPen);
  p.setBrush(QColor("#1e2430"));
  p.drawRoundedRect(QRectF(4, 4, 120, 120), 24, 24);
  QPen edge(QColor(0x5a, 0xb0, 0xff, 204), 3);
  p.setPen(edge);
  const QPointF in[] = {{32, 36}, {32, 64}, {32, 92}}, hid[] = {{64, 52}, {64, 76}}, out{96, 64};
  for (auto a : in)
    for (auto b : hid) p.drawLine(a, b);
  for (auto b : hid) p.drawLine(b, out);
  p.setPen(Qt::NoPen);
  p.setBrush(QColor("#8fd3ff"));
  for (auto a : in) p.drawEllipse(a, 8, 8);
  p.setBrush(QColor("#ffb454"));
  for (auto b : hid) p.drawEllipse(b, 9, 9);
  p.setBrush(QColor("#7ee787"));
  p.drawEllipse(out, 10, 10);
  return pm;
}
}  // namespace

QIcon appIcon() {
  QIcon icon;
  for (int s : {16, 24, 32, 48, 64, 128, 256}) icon.addPixmap(draw(s));
  return icon;
}

QIcon mediaIcon(MediaIcon kind) {
  QIcon icon;
  for (int size : {16, 24, 32}) {
    for (auto mode : {QIcon::Normal, QIcon::Disabled}) {
      QPixmap pm(size, size);
      pm.fill(Qt::transparent);
      QPainter p(&pm);
      p.setRenderHint(QPainter::Antialiasing);
      p.setPen(Qt::NoPen);
      QColor c = kind == MediaIcon::Play    ? QColor("#3fb950")
                 : kind == MediaIcon::Pause ? QColor("#d29922")
                                            : QColor("#e5534b");
      if (mode == QIcon::Disabled) c = QColor(128, 128, 128, 110);
      p.setBrush(c);
      const double s = size;
      if (kind == MediaIcon::Play) {
        const QPointF tri[] = {{s * 0.25, s * 0.15}, {s * 0.85, s * 0.5}, {s * 0.25, s * 0.85}};
        p.drawPolygon(tri, 3);
      } else if (kind == MediaIcon::Pause) {
        p.drawRoundedRect(QRectF(s * 0.2, s * 0.15, s * 0.22, s * 0.7), s * 0.05, s * 0.05);
        p.drawRoundedRect(QRectF(s * 0.58, s * 0.15, s * 0.22, s * 0.7), s * 0.05, s * 0.05);
      } else {
        p.drawRoundedRect(QRectF(s * 0.2, s * 0.2, s * 0.6, s * 0.6), s * 0.08, s * 0.08);
      }
      p.end();
      icon.addPixmap(pm, mode);
    }
  }
  return icon;
}

}  // namespace perceptra::studio
