#pragma once
// Command palette (Ctrl+Shift+P): every named QAction of the window in a
// list with a fuzzy filter (the typed letters in order, best matches first);
// Enter or a click triggers the action.
#include <QDialog>
#include <QList>

class QAction;
class QLineEdit;
class QListWidget;

namespace perceptra::studio {

// Score of `pattern` as a fuzzy subsequence of `text` (case-insensitive):
// < 0 when it does not match; higher is better (consecutive letters and
// word starts score more).
int fuzzyScore(const QString& pattern, const QString& text);

class CommandPalette : public QDialog {
  Q_OBJECT
 public:
  explicit CommandPalette(QWidget* parent = nullptr);
  void setActions(const QList<QAction*>& actions);
  void setFilter(const QString& text);
  // Actions currently listed, best first.
  QList<QAction*> visibleActions() const;
  QLineEdit* filterEdit() const { return edit_; }
  void triggerCurrent();

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;
  void showEvent(QShowEvent* event) override;

 private:
  void rebuild();
  QLineEdit* edit_;
  QListWidget* list_;
  QList<QAction*> actions_;
  QList<QAction*> shown_;
};

}  // namespace perceptra::studio
