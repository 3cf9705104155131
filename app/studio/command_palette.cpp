#include "app/studio/command_palette.h"

#include <QAction>
#include <QKeyEvent>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QVBoxLayout>
#include <algorithm>

namespace perceptra::studio {

int fuzzyScore(const QString& pattern, const QString& text) {
  if (pattern.isEmpty()) return 0;
  const QString p = pattern.toLower(), t = text.toLower();
  int score = 0, ti = 0, run = 0;
  for (QChar c : p) {
    if (c.isSpace()) continue;
    bool found = false;
    for (; ti < t.size(); ++ti) {
      if (t[ti] == c) {
        const bool wordStart = ti == 0 || !t[ti - 1].isLetterOrNumber();
        run = (run > 0) ? run + 1 : 1;
        score += 1 + (wordStart ? 8 : 0) + (run > 1 ? 4 * run : 0);
        ++ti;
        found = true;
        break;
      }
      run = 0;
    }
    if (!found) return -1;
  }
  return score - int(t.size()) / 8;  // shorter names win ties
}

CommandPalette::CommandPalette(QWidget* parent) : QDialog(parent, Qt::Popup | Qt::FramelessWindowHint) {
  setObjectName("commandPalette");
  auto* l = new QVBoxLayout(this);
  l->setContentsMargins(8, 8, 8, 8);
  edit_ = new QLineEdit(this);
  edit_->setPlaceholderText(tr("Type a command…"));
  edit_->installEventFilter(this);
  list_ = new QListWidget(this);
  list_->setUniformItemSizes(true);
  l->addWidget(edit_);
  l->addWidget(list_);
  resize(520, 380);
  connect(edit_, &QLineEdit::textChanged, this, [this] { rebuild(); });
  connect(edit_, &QLineEdit::returnPressed, this, &CommandPalette::triggerCurrent);
  connect(list_, &QListWidget::itemActivated, this, [this] { triggerCurrent(); });
  connect(list_, &QListWidget::itemClicked, this, [this] { triggerCurrent(); });
}

void CommandPalette::setActions(const QList<QAction*>& actions) {
  actions_.clear();
  for (QAction* a : actions)
    if (a && !a->text().isEmpty() && !a->isSeparator() && !a->menu()) actions_ << a;
  rebuild();
}

void CommandPalette::setFilter(const QString& text) { edit_->setText(text); }

QList<QAction*> CommandPalette::visibleActions() const { return shown_; }

void CommandPalette::rebuild() {
  const QString pattern = edit_->text().trimmed();
  QList<QPair<int, QAction*>> scored;
  for (QAction* a : actions_) {
    const QString name = a->text().remove('&');
    int s = fuzzyScore(pattern, name);
    if (s >= 0) scored.append({s, a});
  }
  std::stable_sort(scored.begin(), scored.end(), [](auto& x, auto& y) { return x.first > y.first; });
  list_->clear();
  shown_.clear();
  for (auto& [s, a] : scored) {
    QString label = a->text().remove('&');
    if (!a->shortcut().isEmpty())
      label += QStringLiteral("    (%1)").arg(a->shortcut().toString(QKeySequence::NativeText));
    auto* item = new QListWidgetItem(a->icon(), label, list_);
    if (!a->isEnabled()) item->setFlags(item->flags() & ~Qt::ItemIsEnabled);
    item->setToolTip(a->toolTip());
    shown_ << a;
  }
  for (int i = 0; i < list_->count(); ++i)
    if (list_->item(i)->flags() & Qt::ItemIsEnabled) {
      list_->setCurrentRow(i);
      break;
    }
}

void CommandPalette::triggerCurrent() {
  const int row = list_->currentRow();
  if (row < 0 || row >= shown_.size()) return;
  QAction* a = shown_[row];
  if (!a->isEnabled()) return;
  accept();
  a->trigger();
}

bool CommandPalette::eventFilter(QObject* watched, QEvent* event) {
  if (watched == edit_ && event->type() == QEvent::KeyPress) {
    auto* k = static_cast<QKeyEvent*>(event);
    if (k->key() == Qt::Key_Down || k->key() == Qt::Key_Up) {
      const int n = list_->count();
      if (n == 0) return true;
      int r = list_->currentRow() + (k->key() == Qt::Key_Down ? 1 : -1);
      list_->setCurrentRow(std::clamp(r, 0, n - 1));
      return true;
    }
    if (k->key() == Qt::Key_Escape) {
      reject();
      return true;
    }
  }
  return QDialog::eventFilter(watched, event);
}

void CommandPalette::showEvent(QShowEvent* event) {
  QDialog::showEvent(event);
  if (parentWidget()) {
    const QRect pr = parentWidget()->geometry();
    move(pr.center().x() - width() / 2, pr.top() + 80);
  }
  edit_->clear();
  rebuild();
  edit_->setFocus();
}

}  // namespace perceptra::studio
