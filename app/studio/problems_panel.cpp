#include "app/studio/problems_panel.h"

#include <QApplication>
#include <QClipboard>
#include <QDesktopServices>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QMenu>
#include <QRegularExpression>
#include <QStyle>
#include <QTime>
#include <QTreeWidget>
#include <QUrl>
#include <QVBoxLayout>

namespace perceptra::studio {

namespace {
// The message first after the level's icon: the dock is often narrow.
enum Col { LevelCol, MessageCol, SourceCol, FilesCol, TimeCol };
constexpr int kLevelRole = Qt::UserRole + 1;
constexpr int kFilesRole = Qt::UserRole + 2;
}  // namespace

ProblemsPanel::ProblemsPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  list_ = new QTreeWidget(this);
  list_->setObjectName("problemsList");
  list_->setRootIsDecorated(false);
  list_->setAlternatingRowColors(true);
  list_->setUniformRowHeights(false);
  list_->setWordWrap(true);
  list_->setHeaderLabels({QString(), tr("Message"), tr("Source"), tr("Files"), tr("Time")});
  list_->setTextElideMode(Qt::ElideMiddle);
  QHeaderView* h = list_->header();
  h->setStretchLastSection(false);
  h->setSectionResizeMode(LevelCol, QHeaderView::Fixed);
  h->resizeSection(LevelCol, 28);
  h->setSectionResizeMode(MessageCol, QHeaderView::Stretch);
  // The dock is narrow: the icon and the message as columns; the source,
  // time and files of the selected entry in full below the list.
  for (int c : {SourceCol, FilesCol, TimeCol}) list_->hideColumn(c);
  list_->setHeaderHidden(true);
  list_->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(list_, &QWidget::customContextMenuRequested, this, &ProblemsPanel::showContextMenu);
  connect(list_, &QTreeWidget::itemDoubleClicked, this,
          [this](QTreeWidgetItem* it) { emit activated(list_->indexOfTopLevelItem(it)); });
  empty_ = new QLabel(tr("No problems so far. Warnings and errors of this session (skipped files, what a run "
                         "adapted, refused runs) are kept here."),
                      this);
  empty_->setWordWrap(true);
  empty_->setObjectName("problemsEmpty");
  layout->addWidget(empty_);
  layout->addWidget(list_, 1);
  detail_ = new QLabel(this);
  detail_->setObjectName("problemDetail");
  detail_->setWordWrap(true);
  detail_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  detail_->setFrameShape(QFrame::StyledPanel);
  layout->addWidget(detail_);
  connect(list_, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem* it) { showDetail(it); });
  list_->hide();
  detail_->hide();
}

ProblemsPanel::Level ProblemsPanel::levelFromName(const QString& name) {
  if (name.compare(QLatin1String("warning"), Qt::CaseInsensitive) == 0) return Level::Warning;
  if (name.compare(QLatin1String("error"), Qt::CaseInsensitive) == 0) return Level::Error;
  return Level::Info;
}

QStringList ProblemsPanel::filesIn(const QString& text) {
  QStringList out;
  // 'quoted' or "quoted" paths, then bare words that look like paths.
  static const QRegularExpression quoted(QStringLiteral("['\"]([^'\"]*[/.][^'\"]*)['\"]"));
  static const QRegularExpression bare(
      QStringLiteral("(?:^|\\s)((?:~|\\.{0,2})?/[^\\s:,;'\"()]+|[\\w.-]+/[^\\s:,;'\"()]+)"));
  auto addPath = [&out](QString p) {
    while (p.endsWith(QLatin1Char('.')) || p.endsWith(QLatin1Char(')'))) p.chop(1);
    if (p.isEmpty() || out.contains(p)) return;
    const bool pathy = p.contains(QLatin1Char('/')) || QFileInfo::exists(p);
    if (pathy) out << p;
  };
  for (auto it = quoted.globalMatch(text); it.hasNext();) addPath(it.next().captured(1));
  for (auto it = bare.globalMatch(text); it.hasNext();) addPath(it.next().captured(1));
  return out;
}

void ProblemsPanel::add(Level level, const QString& source, const QString& text, const QStringList& files) {
  QStringList named = files;
  for (const QString& f : filesIn(text))
    if (!named.contains(f)) named << f;
  auto* it = new QTreeWidgetItem(list_);
  it->setText(TimeCol, QTime::currentTime().toString(QStringLiteral("HH:mm:ss")));
  const QString lv = level == Level::Error ? tr("error") : level == Level::Warning ? tr("warning") : tr("info");
  it->setToolTip(LevelCol, lv);
  it->setIcon(LevelCol, style()->standardIcon(level == Level::Error     ? QStyle::SP_MessageBoxCritical
                                              : level == Level::Warning ? QStyle::SP_MessageBoxWarning
                                                                        : QStyle::SP_MessageBoxInformation));
  it->setData(LevelCol, kLevelRole, int(level));
  it->setText(SourceCol, source);
  it->setToolTip(SourceCol, source);
  it->setText(MessageCol, text);
  it->setText(FilesCol, named.join(QStringLiteral(", ")));
  it->setToolTip(FilesCol, named.join(QLatin1Char('\n')));
  it->setData(FilesCol, kFilesRole, named);
  it->setToolTip(MessageCol, tr("%1 · %2 · %3%4")
                                     .arg(lv, source, it->text(TimeCol),
                                          named.isEmpty() ? QString() : QStringLiteral("\n") + named.join('\n')) +
                                 QStringLiteral("\n\n") + text);
  list_->scrollToItem(it);
  list_->setCurrentItem(it);
  empty_->hide();
  list_->show();
  detail_->show();
  emit countChanged(count());
}

int ProblemsPanel::count() const { return list_->topLevelItemCount(); }

int ProblemsPanel::count(Level level) const {
  int n = 0;
  for (int i = 0; i < list_->topLevelItemCount(); ++i)
    if (list_->topLevelItem(i)->data(LevelCol, kLevelRole).toInt() == int(level)) ++n;
  return n;
}

QString ProblemsPanel::text(int row) const {
  auto* it = list_->topLevelItem(row);
  return it ? it->text(MessageCol) : QString();
}

QStringList ProblemsPanel::files(int row) const {
  auto* it = list_->topLevelItem(row);
  return it ? it->data(FilesCol, kFilesRole).toStringList() : QStringList();
}

QString ProblemsPanel::title() const {
  const int n = count(Level::Warning) + count(Level::Error);
  return n ? tr("Problems (%1)").arg(n) : tr("Problems");
}

void ProblemsPanel::showDetail(QTreeWidgetItem* it) {
  if (!it) {
    detail_->clear();
    return;
  }
  QString html = QStringLiteral("<b>%1</b> · %2 · %3<br>%4")
                     .arg(it->toolTip(LevelCol).toHtmlEscaped(), it->text(SourceCol).toHtmlEscaped(), it->text(TimeCol),
                          it->text(MessageCol).toHtmlEscaped());
  const QStringList files = it->data(FilesCol, kFilesRole).toStringList();
  if (!files.isEmpty()) html += tr("<br><i>Files:</i> %1").arg(files.join(QStringLiteral(", ")).toHtmlEscaped());
  detail_->setText(html);
}

QString ProblemsPanel::detailText() const { return detail_->text(); }

void ProblemsPanel::clearAll() {
  list_->clear();
  detail_->clear();
  detail_->hide();
  list_->hide();
  empty_->show();
  emit countChanged(0);
}

void ProblemsPanel::showContextMenu(const QPoint& pos) {
  QMenu menu(this);
  auto* it = list_->itemAt(pos);
  if (it) {
    const QString msg = it->text(MessageCol);
    menu.addAction(tr("Copy message"), this, [msg] { QApplication::clipboard()->setText(msg); });
    const QStringList files = it->data(FilesCol, kFilesRole).toStringList();
    for (const QString& f : files) {
      menu.addAction(tr("Copy path %1").arg(f), this, [f] { QApplication::clipboard()->setText(f); });
      const QFileInfo fi(f);
      if (fi.exists())
        menu.addAction(tr("Reveal %1 in folder").arg(fi.fileName()), this, [fi] {
          QDesktopServices::openUrl(QUrl::fromLocalFile(fi.isDir() ? fi.absoluteFilePath() : fi.absolutePath()));
        });
    }
    menu.addSeparator();
  }
  menu.addAction(tr("Clear all"), this, &ProblemsPanel::clearAll);
  menu.exec(list_->viewport()->mapToGlobal(pos));
}

}  // namespace perceptra::studio
