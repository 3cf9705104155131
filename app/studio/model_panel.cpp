#include "app/studio/model_panel.h"

#include <QComboBox>
#include <QFile>
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

#include "app/studio/layer_table_model.h"
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
  for (const char* t : {"conv2d", "linear", "relu", "leaky_relu", "gelu", "sigmoid", "tanh",
                        "relu6", "maxpool2d", "avgpool2d", "global_avgpool", "batchnorm2d", "batchnorm1d",
                        "dropout", "flatten", "residual"})
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

bool ModelPanel::loadSpec(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) {
    status_->setText(tr("Cannot read %1: %2").arg(path, f.errorString()));
    return false;
  }
  auto j = nlohmann::json::parse(f.readAll().toStdString(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("layers")) {
    status_->setText(tr("%1: not a model spec (expected a JSON object with \"layers\")").arg(path));
    return false;
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
