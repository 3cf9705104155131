#pragma once
// Problems: every warning and error of the session in one list (the
// dataset's skipped files, a run's adaptations, refused runs, failed loads),
// newest last, each with the time, its source and the files it names, so a
// message that flashed in the status bar is never lost. Right-click copies a
// message or reveals a named file; the dock's title counts them.
#include <QWidget>

class QTreeWidget;
class QTreeWidgetItem;
class QLabel;

namespace perceptra::studio {

class ProblemsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ProblemsPanel(QWidget* parent = nullptr);

  enum class Level { Info, Warning, Error };
  // Adds one entry. `source` says where it came from ("Dataset", "Run 3",
  // "Model spec"); file paths in `text` (or given in `files`) are listed.
  void add(Level level, const QString& source, const QString& text, const QStringList& files = {});
  static Level levelFromName(const QString& name);  // "warning", "error", else Info

  int count() const;
  int count(Level level) const;
  QString text(int row) const;       // the message of entry `row`
  QStringList files(int row) const;  // the files it names
  QTreeWidget* list() const { return list_; }
  // The selected entry in full: level, source, time, message, files.
  QString detailText() const;
  // "Problems (3)": for the dock's title.
  QString title() const;

  // Paths a message names: quoted strings or words with a '/' (or a file
  // extension) that exist on disk or look like paths.
  static QStringList filesIn(const QString& text);

 public slots:
  void clearAll();

 signals:
  void countChanged(int count);
  // The entry was double-clicked (the window raises what it concerns).
  void activated(int row);

 private:
  void showContextMenu(const QPoint& pos);
  void showDetail(QTreeWidgetItem* item);
  QTreeWidget* list_;
  QLabel* empty_;
  QLabel* detail_;
};

}  // namespace perceptra::studio
