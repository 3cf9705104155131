#pragma once
// The Help menu's windows: the keyboard-shortcut sheet (generated from the
// window's actions when it opens, so it cannot go stale), "Getting started"
// (dataset -> model -> train -> inspect -> export), the README compiled in
// as a Qt resource (offline, links not followed), and About with the
// version, the build (CUDA, oneDNN, compiler) and the devices.
#include <QDialog>
#include <QList>

class QAction;
class QTableWidget;
class QTextBrowser;

namespace perceptra::studio {

// One row of the shortcut sheet.
struct ShortcutRow {
  QString command, keys, description;
};
// Every action with a shortcut, sorted by command; actions without one are left out.
QList<ShortcutRow> shortcutRows(const QList<QAction*>& actions);

class ShortcutSheet : public QDialog {
  Q_OBJECT
 public:
  ShortcutSheet(const QList<QAction*>& actions, QWidget* parent = nullptr);
  QTableWidget* table() const { return table_; }

 private:
  QTableWidget* table_;
};

// A read-only text window (Getting started, the README, About).
class HelpText : public QDialog {
  Q_OBJECT
 public:
  HelpText(const QString& objectName, const QString& title, QWidget* parent = nullptr);
  void setMarkdown(const QString& markdown);
  void setHtml(const QString& html);
  QTextBrowser* browser() const { return browser_; }

 private:
  QTextBrowser* browser_;
};

// The README as shipped in the binary (":/help/README.md").
QString bundledReadme();
// The in-app guide, as Markdown.
QString gettingStartedMarkdown();
// Version, build and device lines for About (HTML).
QString aboutHtml(const QString& databasePath);

}  // namespace perceptra::studio
