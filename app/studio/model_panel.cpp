#include "app/studio/model_panel.h"

#include <QComboBox>
#include <QApplication>
#include <QClipboard>
#include <QFile>
#include <memory>
#include <QFileInfo>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QMenu>
#include <QSignalBlocker>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

#include "app/studio/cost_view.h"
#include "app/studio/layer_table_model.h"
#include "core/io/model_file.h"
#include "app/studio/start_from_box.h"
#include "core/nn/model.h"

namespace perceptra::studio {

namespace {
// Defaults for a newly added layer, editable afterwards in the table.
nlohmann::json defaultLayer(const QString& type) {
  const std::string t = type.toStdString();
  if (t == "conv2d") return {{"type", t}, {"out_channels", 32}, {"kernel", 3}, {"padding", 1}};
  if (t == "linear") return {{"type", t}, {"out_features", 128}};
  if (t == "maxpool2d" || t == "avgpool2d") return {{"type", t}, {"kernel", 2}};
  if (t == "dropout") return {{"type", t}, {"p", 0.25}};
  if (t == "leaky_relu") return {{"type", t}, {"slope", 0.01}};
  if (t == "residual")
    return {{"type", t},
            {"layers",
             {{{"type", "conv2d"}, {"out_channels", 32}, {"kernel", 3}, {"padding", 1}},
              {{"type", "batchnorm2d"}},
              {{"type", "relu"}},
              {{"type", "conv2d"}, {"out_channels", 32}, {"kernel", 3}, {"padding", 1}},
              {{"type", "batchnorm2d"}}}}};
  return {{"type", t}};
}

QToolButton* toolButton(const QString& text, const QString& tip, QWidget* parent) {
  auto* b = new QToolButton(parent);
  b->setText(text);
  b->setToolTip(tip);
  b->setAutoRaise(true);
  return b;
}
}  // namespace

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent), model_(new LayerTableModel(this)) {
  auto* layout = new QVBoxLayout(this);
  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Architecture"), this));
  builtins_ = new QComboBox(this);
  builtins_->setObjectName("builtinCombo");
  for (auto& n : Model::builtin_names()) builtins_->addItem(QString::fromStdString(n));
  builtins_->addItem(tr("custom"));
  top->addWidget(builtins_, 1);
  layout->addLayout(top);

  table_ = new QTableView(this);
  table_->setObjectName("layerTable");
  table_->setModel(model_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setSectionResizeMode(LayerTableModel::Arguments, QHeaderView::Stretch);
  for (int c : {int(LayerTableModel::Index), int(LayerTableModel::Type), int(LayerTableModel::Output),
                int(LayerTableModel::Params)})
    table_->horizontalHeader()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
  table_->setWordWrap(false);
  table_->setTextElideMode(Qt::ElideRight);
  table_->setAlternatingRowColors(true);
  table_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
  layout->addWidget(table_, 1);

  auto* buttons = new QHBoxLayout;
  auto* add = toolButton(tr("+ Add"), tr("Insert a layer after the selected one"), this);
  auto* menu = new QMenu(add);
  for (const char* t : {"conv2d", "linear", "relu", "leaky_relu", "gelu", "sigmoid", "tanh", "relu6", "maxpool2d",
                        "avgpool2d", "global_avgpool", "batchnorm2d", "batchnorm1d", "dropout", "flatten", "residual"})
    menu->addAction(QString::fromLatin1(t), this, [this, t] { addLayer(QString::fromLatin1(t)); });
  add->setMenu(menu);
  add->setPopupMode(QToolButton::InstantPopup);
  auto* remove = toolButton(tr("− Remove"), tr("Remove the selected layer"), this);
  auto* up = toolButton(tr("▲"), tr("Move the selected layer up"), this);
  auto* down = toolButton(tr("▼"), tr("Move the selected layer down"), this);
  auto* save = toolButton(tr("Save…"), tr("Save the model spec as JSON"), this);
  auto* load = toolButton(tr("Load…"), tr("Load a model spec from JSON"), this);
  for (auto* b : {add, remove, up, down}) buttons->addWidget(b);
  buttons->addStretch(1);
  buttons->addWidget(load);
  buttons->addWidget(save);
  layout->addLayout(buttons);

  status_ = new QLabel(this);
  status_->setObjectName("modelStatus");
  status_->setWordWrap(true);
  layout->addWidget(status_);
  cost_ = new CostView(this);
  layout->addWidget(cost_);

  table_->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(table_, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
    const QModelIndex idx = table_->indexAt(pos);
    if (!idx.isValid()) return;
    table_->selectRow(idx.row());
    std::unique_ptr<QMenu> menu(layerMenu(idx.row()));
    menu->exec(table_->viewport()->mapToGlobal(pos));
  });

  startFrom_ = new StartFromBox(this);
  layout->addWidget(startFrom_);
  // Starting from a trained model: its layers are listed there, not here.
  connect(startFrom_, &StartFromBox::sourceChanged, table_,
          [this](int source) { table_->setVisible(source == StartFromBox::Scratch); });

  connect(builtins_, &QComboBox::currentTextChanged, this, [this](const QString& name) {
    if (name != tr("custom")) selectBuiltin(name);
  });
  connect(remove, &QToolButton::clicked, this, [this] { model_->removeLayer(currentRow()); });
  connect(up, &QToolButton::clicked, this, [this] {
    int r = currentRow();
    model_->moveLayer(r, r - 1);
    if (r > 0) table_->selectRow(r - 1);
  });
  connect(down, &QToolButton::clicked, this, [this] {
    int r = currentRow();
    model_->moveLayer(r, r + 1);
    if (r + 1 < model_->rowCount()) table_->selectRow(r + 1);
  });
  connect(save, &QToolButton::clicked, this, [this] {
    QString path = QFileDialog::getSaveFileName(this, tr("Save model spec"), QString(), tr("Model spec (*.json)"));
    if (!path.isEmpty()) saveSpec(path);
  });
  connect(load, &QToolButton::clicked, this, [this] {
    QString path = QFileDialog::getOpenFileName(this, tr("Load model spec"), QString(), tr("Model spec (*.json)"));
    if (!path.isEmpty()) loadSpec(path);
  });
  connect(model_, &LayerTableModel::specChanged, this, [this] {
    refreshStatus();
    emit specChanged();
  });
  connect(model_, &LayerTableModel::dataChanged, this, [this] {
    // A hand edit turns a built-in into a custom model.
    QSignalBlocker block(builtins_);
    builtins_->setCurrentText(tr("custom"));
  });
  selectBuiltin(QStringLiteral("simplecnn"));
}

nlohmann::json ModelPanel::spec() const { return model_->spec(); }
bool ModelPanel::isValid() const { return model_->isValid(); }
QString ModelPanel::firstError() const { return model_->firstError(); }
int64_t ModelPanel::parameterCount() const { return model_->totalParameters(); }
QString ModelPanel::builtinName() const { return builtins_->currentText(); }

int ModelPanel::currentRow() const {
  auto sel = table_->selectionModel()->selectedRows();
  return sel.isEmpty() ? model_->rowCount() - 1 : sel.first().row();
}

void ModelPanel::setInput(const Shape& sample, int classes) {
  input_ = sample;
  classes_ = classes;
  if (builtins_->currentText() != tr("custom"))
    selectBuiltin(builtins_->currentText());
  else
    model_->setInput(sample, classes);
}

void ModelPanel::selectBuiltin(const QString& name) {
  {
    QSignalBlocker block(builtins_);
    builtins_->setCurrentText(name);
  }
  model_->setSpec(Model::builtin_spec(name.toStdString(), input_, classes_));
}

void ModelPanel::setSpec(const nlohmann::json& spec) {
  {
    QSignalBlocker block(builtins_);
    builtins_->setCurrentText(tr("custom"));
  }
  model_->setSpec(spec);
}

bool ModelPanel::saveSpec(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
    status_->setText(tr("Cannot write %1: %2").arg(path, f.errorString()));
    return false;
  }
  f.write(QByteArray::fromStdString(model_->spec().dump(2)));
  return true;
}

QMenu* ModelPanel::layerMenu(int row) {
  auto* menu = new QMenu(this);
  menu->setObjectName("layerMenu");
  const QString name = model_->layerName(row);
  const QString shape = model_->data(model_->index(row, LayerTableModel::Output), Qt::DisplayRole).toString();
  auto* show =
      menu->addAction(tr("Show activations of %1").arg(name), this, [this, name] { emit activationsRequested(name); });
  show->setObjectName("actionLayerActivations");
  auto* copy = menu->addAction(tr("Copy layer name"), this, [name] { QApplication::clipboard()->setText(name); });
  copy->setObjectName("actionCopyLayerName");
  if (!shape.isEmpty())
    menu->addAction(tr("Copy output shape (%1)").arg(shape), this,
                    [shape] { QApplication::clipboard()->setText(shape); });
  return menu;
}

bool ModelPanel::loadSpec(const QString& path) {
  auto fail = [&](const QString& error) {
    status_->setText(error);
    emit loadFailed(path, error);
    return false;
  };
  nlohmann::json j;
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (suffix == QLatin1String("pmodel") || suffix == QLatin1String("ckpt")) {
    // A trained model's architecture (its weights are for --from / transfer).
    try {
      j = inspect_model_file(path.toStdString()).spec;
    } catch (const std::exception& e) {
      return fail(QString::fromStdString(e.what()));
    }
  } else {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return fail(tr("Cannot read %1: %2").arg(path, f.errorString()));
    j = nlohmann::json::parse(f.readAll().toStdString(), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("layers"))
      return fail(tr("%1: not a model spec (expected a JSON object with \"layers\", or a .pmodel file)").arg(path));
  }
  j["input"] = input_.dims();  // the dataset decides the input
  j["classes"] = classes_;
  setSpec(j);
  // A spec that loads but does not build: say which file the bad row came from.
  if (!model_->isValid()) status_->setText(tr("%1: %2").arg(QFileInfo(path).fileName(), model_->firstError()));
  return true;
}

void ModelPanel::addLayer(const QString& type) {
  int row = currentRow() + 1;
  model_->insertLayer(row, defaultLayer(type));
  table_->selectRow(row);
  QSignalBlocker block(builtins_);
  builtins_->setCurrentText(tr("custom"));
}

void ModelPanel::refreshStatus() {
  if (model_->isValid()) {
    status_->setStyleSheet(QString());
    status_->setText(tr("%1 layers · %2 trainable parameters")
                         .arg(model_->rowCount())
                         .arg(QLocale().toString(static_cast<qlonglong>(model_->totalParameters()))));
  } else {
    status_->setStyleSheet(QStringLiteral("color: #e5534b;"));
    status_->setText(model_->firstError());
  }
}

}  // namespace perceptra::studio
