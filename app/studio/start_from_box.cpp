#include "app/studio/start_from_box.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "app/studio/layer_table_model.h"
#include "core/io/import/importer.h"
#include "core/io/model_file.h"
#include "core/nn/builtin_torchvision.h"
#include "core/nn/model.h"
#include "core/store/store.h"
#include "core/tensor/error.h"

namespace perceptra::studio {

namespace {

bool isStateDict(const QString& path) {
  const QString s = QFileInfo(path).suffix().toLower();
  return s == QLatin1String("pth") || s == QLatin1String("pt") || s == QLatin1String("safetensors");
}
bool isNative(const QString& path) { return QFileInfo(path).suffix().toLower() == QLatin1String("pmodel"); }

QString shapeText(const nlohmann::json& dims) {
  QStringList parts;
  for (const auto& d : dims) parts << QString::number(d.get<long long>());
  return parts.join(QChar(0xd7));
}

// A .pmodel's spec and a one-line summary (header only: no weights read).
StartModel describeNative(const QString& path, const QString& prefix) {
  StartModel m;
  ModelFileInfo info = inspect_model_file(path.toStdString());
  if (info.kind != "model") throw InputError(path.toStdString(), "is a " + info.kind + ", not a model file");
  m.path = path;
  m.spec = info.spec;
  m.summary = QStringLiteral("%1%2 layers, input %3, %4 classes")
                  .arg(prefix)
                  .arg(info.spec.value("layers", nlohmann::json::array()).size())
                  .arg(shapeText(info.spec.value("input", nlohmann::json::array())))
                  .arg(info.spec.value("classes", 0));
  return m;
}

// The same import `perceptra-cli import` does, saved as a .pmodel.
StartModel importFile(const QString& path, const QString& arch, int size, const QString& outDir) {
  ImportOptions o;
  const bool stateDict = isStateDict(path);
  if (stateDict) {
    o.arch = arch.toStdString();
    o.input = {3, size, size};
  }
  ImportedModel im = import_model(path.toStdString(), o);
  if (!QDir().mkpath(outDir)) throw InputError(outDir.toStdString(), "cannot create the folder for imported models");
  const QString stem = QFileInfo(path).completeBaseName();
  const QString out = QDir(outDir).filePath(stateDict ? QStringLiteral("%1-%2-%3.pmodel").arg(stem, arch).arg(size)
                                                      : stem + QStringLiteral(".pmodel"));
  save_model(out.toStdString(), *im.model, im.meta);
  return describeNative(
      out, QStringLiteral("Imported %1 (%2) → %3: ")
               .arg(QFileInfo(path).fileName(), QString::fromStdString(im.format), QDir::toNativeSeparators(out)));
}

}  // namespace

StartFromBox::StartFromBox(QWidget* parent) : QGroupBox(tr("Start from"), parent), layers_(new LayerTableModel(this)) {
  setObjectName("startFromBox");
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  source_ = new QComboBox(this);
  source_->setObjectName("startFromCombo");
  source_->addItem(tr("Scratch (the architecture above)"));
  source_->addItem(tr("A saved run's model"));
  source_->addItem(tr("A model file (.pmodel, .onnx, .pth, .safetensors)"));
  source_->setToolTip(tr("Fine-tune a trained network: its head is replaced for this dataset's classes"));
  layout->addWidget(source_);

  runRow_ = new QWidget(this);
  auto* runLayout = new QHBoxLayout(runRow_);
  runLayout->setContentsMargins(0, 0, 0, 0);
  runs_ = new QComboBox(runRow_);
  runs_->setObjectName("startRunCombo");
  auto* refresh = new QToolButton(runRow_);
  refresh->setText(tr("↻"));
  refresh->setToolTip(tr("Reload the saved runs"));
  runLayout->addWidget(runs_, 1);
  runLayout->addWidget(refresh);
  layout->addWidget(runRow_);

  fileRow_ = new QWidget(this);
  auto* fileLayout = new QHBoxLayout(fileRow_);
  fileLayout->setContentsMargins(0, 0, 0, 0);
  file_ = new QLineEdit(fileRow_);
  file_->setObjectName("startFilePath");
  file_->setReadOnly(true);
  file_->setPlaceholderText(tr("No file chosen"));
  auto* browse = new QPushButton(tr("Browse…"), fileRow_);
  browse->setObjectName("startBrowse");
  fileLayout->addWidget(file_, 1);
  fileLayout->addWidget(browse);
  layout->addWidget(fileRow_);

  importRow_ = new QWidget(this);
  auto* importLayout = new QHBoxLayout(importRow_);
  importLayout->setContentsMargins(0, 0, 0, 0);
  arch_ = new QComboBox(importRow_);
  arch_->setObjectName("startArch");
  for (const auto& n : torchvision_builtin_names()) arch_->addItem(QString::fromStdString(n));
  arch_->setToolTip(tr("State dicts hold weights only: the torchvision architecture they follow"));
  inputSize_ = new QSpinBox(importRow_);
  inputSize_->setObjectName("startInputSize");
  inputSize_->setRange(32, 1024);
  inputSize_->setValue(224);
  inputSize_->setToolTip(tr("Image size the imported network takes (the dataset is resized to it)"));
  importLayout->addWidget(new QLabel(tr("Architecture"), importRow_));
  importLayout->addWidget(arch_, 1);
  importLayout->addWidget(new QLabel(tr("Size"), importRow_));
  importLayout->addWidget(inputSize_);
  layout->addWidget(importRow_);

  status_ = new QLabel(this);
  status_->setObjectName("startFromStatus");
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(status_);

  table_ = new QTableView(this);
  table_->setObjectName("startLayers");
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setAlternatingRowColors(true);
  table_->setMinimumHeight(120);
  layout->addWidget(table_, 1);

  connect(source_, &QComboBox::currentIndexChanged, this, [this] {
    if (source() == SavedRun && runs_->count() == 0) refreshRuns();
    load();
    emit sourceChanged(int(source()));
  });
  connect(runs_, &QComboBox::currentIndexChanged, this, [this] {
    if (source() == SavedRun) load();
  });
  connect(refresh, &QToolButton::clicked, this, &StartFromBox::refreshRuns);
  connect(browse, &QPushButton::clicked, this, [this] {
    QString path = QFileDialog::getOpenFileName(this, tr("Start from a model file"), QString(),
                                                tr("Models (*.pmodel *.onnx *.pth *.pt *.safetensors);;All files (*)"));
    if (!path.isEmpty()) chooseFile(path);
  });
  // Another architecture or size: import again.
  connect(arch_, &QComboBox::currentIndexChanged, this, [this] {
    if (source() == File && isStateDict(file_->text())) load();
  });
  connect(inputSize_, &QSpinBox::editingFinished, this, [this] {
    if (source() == File && isStateDict(file_->text())) load();
  });
  connect(&watcher_, &QFutureWatcher<StartModel>::finished, this, &StartFromBox::finished);
  connect(&runsWatcher_, &QFutureWatcher<QList<QPair<QString, QString>>>::finished, this, [this] {
    const QString keep = runs_->currentData().toString();
    {
      QSignalBlocker block(runs_);
      runs_->clear();
      for (const auto& [label, path] : runsWatcher_.result()) runs_->addItem(label, path);
      if (int i = runs_->findData(keep); i >= 0) runs_->setCurrentIndex(i);
    }
    if (source() == SavedRun) load();
  });
  load();
}

void StartFromBox::setWorkspace(const QString& dbPath, const QString& runsDir) {
  dbPath_ = dbPath;
  runsDir_ = runsDir;
  runs_->clear();
  if (source() == SavedRun) refreshRuns();
}

StartFromBox::Source StartFromBox::source() const { return Source(source_->currentIndex()); }
void StartFromBox::setSource(Source s) { source_->setCurrentIndex(int(s)); }

QString StartFromBox::importDir() const {
  const QString base = runsDir_.isEmpty() ? QDir::tempPath() : QFileInfo(runsDir_).absolutePath();
  return QDir(base).filePath(QStringLiteral("imported"));
}

void StartFromBox::chooseFile(const QString& path) {
  file_->setText(path);
  if (source() != File)
    setSource(File);  // loads
  else
    load();
}

void StartFromBox::refreshRuns() {
  if (runsWatcher_.isRunning()) return;
  const std::string db = dbPath_.toStdString();
  runsWatcher_.setFuture(QtConcurrent::run([db] {
    QList<QPair<QString, QString>> out;
    if (db.empty() || !QFileInfo::exists(QString::fromStdString(db))) return out;
    try {
      StoreOptions o;
      o.recover_interrupted = false;  // only reading
      ExperimentStore store(db, o);
      for (const auto& s : store.list_runs()) {
        auto a = store.latest_artifact(s.run.id, "model");
        if (!a) continue;
        QString label = QStringLiteral("#%1 %2").arg(s.run.id).arg(QString::fromStdString(s.run.name));
        if (s.best_valid_accuracy) label += QStringLiteral(" · %1 %").arg(*s.best_valid_accuracy * 100, 0, 'f', 1);
        out.append({label, QString::fromStdString(a->path)});
      }
    } catch (const std::exception&) {
      // An unreadable store lists nothing; the Runs tab names the problem.
    }
    return out;
  }));
}

void StartFromBox::load() {
  const Source s = source();
  runRow_->setVisible(s == SavedRun);
  fileRow_->setVisible(s == File);
  importRow_->setVisible(s == File && isStateDict(file_->text()));  // state dicts only
  table_->setVisible(s != Scratch);
  const quint64 gen = ++generation_;
  const bool hadModel = !ready_.isEmpty();
  ready_.clear();
  table_->setModel(nullptr);  // nothing to list until a model is read
  QString path = s == SavedRun ? runs_->currentData().toString() : s == File ? file_->text() : QString();
  if (path.isEmpty()) {
    status_->setStyleSheet(QString());
    status_->setText(s == Scratch    ? tr("Weights start random.")
                     : s == SavedRun ? tr("No saved run with a model yet.")
                                     : tr("Choose a file."));
    if (hadModel) emit startModelChanged();
    return;
  }
  status_->setStyleSheet(QString());
  status_->setText(isNative(path) || s == SavedRun ? tr("Reading %1…").arg(QFileInfo(path).fileName())
                                                   : tr("Importing %1…").arg(QFileInfo(path).fileName()));
  const QString arch = arch_->currentText(), out = importDir();
  const int size = inputSize_->value();
  const bool native = s == SavedRun || isNative(path);
  // A newer choice supersedes this one: its result is dropped in finished().
  watcher_.setFuture(QtConcurrent::run([path, arch, size, out, native, gen] {
    StartModel m;
    try {
      m = native ? describeNative(path, QString()) : importFile(path, arch, size, out);
    } catch (const std::exception& e) {
      m.error = QString::fromUtf8(e.what());
    }
    m.generation = gen;
    return m;
  }));
  if (hadModel) emit startModelChanged();
}

void StartFromBox::finished() {
  StartModel m = watcher_.result();
  if (m.generation != generation_) return;  // superseded
  showModel(m);
  emit startModelChanged();
}

void StartFromBox::showModel(const StartModel& m) {
  if (!m.error.isEmpty()) {
    status_->setStyleSheet(QStringLiteral("color: #e5534b;"));
    status_->setText(m.error);
    return;
  }
  ready_ = m.path;
  layers_->setSpec(m.spec);
  table_->setModel(layers_);
  table_->setColumnHidden(LayerTableModel::Arguments, true);
  for (int c : {int(LayerTableModel::Index), int(LayerTableModel::Type), int(LayerTableModel::Output)})
    table_->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  status_->setStyleSheet(QString());
  status_->setText(tr("%1 · %2 parameters. The head is replaced for this dataset's classes.")
                       .arg(m.summary, QLocale().toString(static_cast<qlonglong>(layers_->totalParameters()))));
}

QString StartFromBox::modelPath() const { return source() == Scratch ? QString() : ready_; }
QString StartFromBox::statusText() const { return status_->text(); }

void StartFromBox::applyTo(TrainConfig& c) const { c.from_model = modelPath().toStdString(); }

}  // namespace perceptra::studio
