#include "app/studio/help_dialogs.h"

#include <QAction>
#include <QDialogButtonBox>
#include <QFile>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QTextBrowser>
#include <QVBoxLayout>

#include <algorithm>

#include "core/backend/backend.h"
#include "core/store/machine.h"

// help.qrc lives in a static library: its registration is linked in only
// when referenced (Q_INIT_RESOURCE must be called outside any namespace).
static void initHelpResource() { Q_INIT_RESOURCE(help); }

namespace perceptra::studio {

QList<ShortcutRow> shortcutRows(const QList<QAction*>& actions) {
  QList<ShortcutRow> rows;
  QStringList seen;
  for (QAction* a : actions) {
    if (!a || a->shortcuts().isEmpty()) continue;
    QStringList keys;
    for (const QKeySequence& k : a->shortcuts()) keys << k.toString(QKeySequence::NativeText);
    const QString command = QString(a->text()).remove(QLatin1Char('&')).remove(QStringLiteral("…")).trimmed();
    const QString id = command + keys.join(QLatin1Char(','));
    if (seen.contains(id)) continue;
    seen << id;
    QString tip = a->toolTip();
    if (QString(tip).remove(QLatin1Char('&')) == QString(a->text()).remove(QLatin1Char('&'))) tip.clear();
    rows.push_back({command, keys.join(QStringLiteral(", ")), tip});
  }
  std::sort(rows.begin(), rows.end(), [](const ShortcutRow& x, const ShortcutRow& y) {
    return x.command.compare(y.command, Qt::CaseInsensitive) < 0;
  });
  return rows;
}

ShortcutSheet::ShortcutSheet(const QList<QAction*>& actions, QWidget* parent) : QDialog(parent) {
  setObjectName("shortcutSheet");
  setWindowTitle(tr("Keyboard shortcuts"));
  auto* layout = new QVBoxLayout(this);
  auto* intro = new QLabel(tr("Every command with a keyboard shortcut. All commands, with or without one, are "
                              "in the command palette (%1).")
                               .arg(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P).toString(QKeySequence::NativeText)),
                           this);
  intro->setWordWrap(true);
  layout->addWidget(intro);
  const QList<ShortcutRow> rows = shortcutRows(actions);
  table_ = new QTableWidget(int(rows.size()), 3, this);
  table_->setObjectName("shortcutTable");
  table_->setHorizontalHeaderLabels({tr("Command"), tr("Shortcut"), tr("What it does")});
  table_->verticalHeader()->hide();
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->horizontalHeader()->setStretchLastSection(true);
  for (int i = 0; i < rows.size(); ++i) {
    table_->setItem(i, 0, new QTableWidgetItem(rows[i].command));
    auto* keys = new QTableWidgetItem(rows[i].keys);
    QFont f = keys->font();
    f.setBold(true);
    keys->setFont(f);
    table_->setItem(i, 1, keys);
    table_->setItem(i, 2, new QTableWidgetItem(rows[i].description));
  }
  table_->resizeColumnsToContents();
  layout->addWidget(table_, 1);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons);
  resize(680, 620);
}

HelpText::HelpText(const QString& objectName, const QString& title, QWidget* parent) : QDialog(parent) {
  setObjectName(objectName);
  setWindowTitle(title);
  auto* layout = new QVBoxLayout(this);
  browser_ = new QTextBrowser(this);
  browser_->setObjectName(objectName + QStringLiteral("Text"));
  // Offline: nothing is fetched or opened, links stay text.
  browser_->setOpenLinks(false);
  browser_->setOpenExternalLinks(false);
  layout->addWidget(browser_, 1);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons);
  resize(760, 640);
}

void HelpText::setMarkdown(const QString& markdown) { browser_->setMarkdown(markdown); }
void HelpText::setHtml(const QString& html) { browser_->setHtml(html); }

QString bundledReadme() {
  initHelpResource();
  QFile f(QStringLiteral(":/help/README.md"));
  if (!f.open(QIODevice::ReadOnly)) return QObject::tr("The README is not part of this build.");
  return QString::fromUtf8(f.readAll());
}

QString gettingStartedMarkdown() {
  return QObject::tr(
      "# Getting started\n\n"
      "Perceptra trains image classifiers on this machine. Five steps:\n\n"
      "1. **Dataset** (left, *Dataset* tab): pick Fashion-MNIST or the bundled sample data, or "
      "*File → Open dataset folder…* for a folder with one sub-folder per class. Skipped files and other "
      "warnings are listed in the *Problems* panel. Image folders are decoded to the size shown there; "
      "large sizes cost memory.\n"
      "2. **Model** (*Model* tab): a built-in architecture or your own layer list. Every row shows its "
      "output shape and parameters; below it, the **cost estimate**: parameters, activation memory per "
      "batch, projected peak memory, FLOPs per image and the expected speed on this machine.\n"
      "3. **Train** (*Training* dock, Ctrl+T): set the learning rate (*Find learning rate* suggests one), "
      "batch size and epochs. A run that would not fit in memory is refused with the numbers and a "
      "suggestion; a large one asks once. The *Live* view draws the loss, accuracy and the activations of "
      "a probe image while it trains; Esc stops (the model so far is saved).\n"
      "4. **Inspect** (right): the validation images the model gets wrong, worst first; click a "
      "confusion-matrix cell for exactly those images, click an image for its probabilities, Grad-CAM "
      "and activations. Every view shows one run: the one named in the status bar.\n"
      "5. **Export** (Ctrl+E, Ctrl+Shift+E): the model as a .pmodel file or as ONNX (checked by the ONNX "
      "checker).\n\n"
      "The *Runs* tab (Ctrl+2) lists every run: right-click one to open it everywhere, inspect it, "
      "resume it, copy its id or folder, reveal its folder, or delete it. *Help → Keyboard shortcuts* lists "
      "every shortcut; Ctrl+Shift+P finds any command by name.\n");
}

QString aboutHtml(const QString& databasePath) {
  const nlohmann::json m = machine_metadata();
  const auto& v = m["versions"];
  const CudaProbe cuda = probe_cuda();
  QString cudaText;
  if (!cuda.compiled)
    cudaText = QObject::tr("not compiled in (CPU build)");
  else if (cuda.device_count == 0)
    cudaText = QObject::tr("compiled in; no usable device (%1)").arg(QString::fromStdString(cuda.reason));
  else
    cudaText = QObject::tr("compiled in; %1 device(s): %2")
                   .arg(cuda.device_count)
                   .arg(QString::fromStdString(backend_for(Device::cuda(0)).describe()));
  auto row = [](const QString& k, const QString& val) {
    return QStringLiteral("<tr><td><b>%1</b></td><td>%2</td></tr>").arg(k.toHtmlEscaped(), val.toHtmlEscaped());
  };
  QString html = QObject::tr(
                     "<h2>Perceptra Studio %1</h2><p>A desktop deep-learning studio: pick data and a model, "
                     "train, watch, inspect, compare and export.</p>")
                     .arg(QString::fromStdString(v.value("perceptra", std::string("?"))));
  html += QStringLiteral("<table cellspacing='4'>");
  html += row(QObject::tr("Version"), QString::fromStdString(v.value("perceptra", std::string("?"))));
  html += row(QObject::tr("CPU backend"), QString::fromStdString(backend_for(Device::cpu()).describe()));
  html += row(QObject::tr("CUDA"), cudaText);
  html += row(QObject::tr("Compiler"), QString::fromStdString(v.value("compiler", std::string("?"))));
  html += row(QObject::tr("SQLite"), QString::fromStdString(v.value("sqlite", std::string("?"))));
  html += row(QObject::tr("Qt"), QString::fromLatin1(qVersion()));
  html += row(QObject::tr("Machine"), QStringLiteral("%1 · %2 cores · %3")
                                          .arg(QString::fromStdString(m.value("cpu_model", std::string("?"))))
                                          .arg(m.value("cores", 0))
                                          .arg(QString::fromStdString(m.value("os", std::string("?")))));
  html += row(QObject::tr("Runs stored in"), databasePath);
  html += QStringLiteral("</table>");
  return html;
}

}  // namespace perceptra::studio
