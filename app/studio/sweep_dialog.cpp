#include "app/studio/sweep_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include "core/sweep/spec.h"
#include "core/tensor/error.h"

namespace perceptra::studio {

namespace {

const char* kKinds[] = {"grid", "log_uniform", "uniform", "choice"};

// A value typed in a cell: a number when it reads as one, true/false, else text.
nlohmann::json parse_value(const QString& text) {
  const QString t = text.trimmed();
  bool ok = false;
  qlonglong i = t.toLongLong(&ok);
  if (ok) return i;
  double d = t.toDouble(&ok);
  if (ok) return d;
  if (t == QLatin1String("true") || t == QLatin1String("false")) return t == QLatin1String("true");
  return t.toStdString();
}

}  // namespace

SweepDialog::SweepDialog(const TrainConfig& base, QWidget* parent)
    : QDialog(parent),
      base_(base.to_json()),
      name_(new QLineEdit(this)),
      params_(new QTableWidget(0, 3, this)),
      trials_(new QSpinBox(this)),
      metric_(new QComboBox(this)),
      goal_(new QComboBox(this)),
      early_(new QComboBox(this)),
      grace_(new QSpinBox(this)),
      budget_(new QDoubleSpinBox(this)),
      parallel_(new QSpinBox(this)),
      problem_(new QLabel(this)) {
  setWindowTitle(tr("New sweep"));
  // The sweep's own: every trial gets its database, folder and name.
  for (const char* own : {"db_path", "out_dir", "run_name"}) base_.erase(own);

  params_->setHorizontalHeaderLabels({tr("Parameter (config path)"), tr("Kind"), tr("Values (a, b, ... or lo, hi)")});
  params_->horizontalHeader()->setStretchLastSection(true);
  params_->verticalHeader()->hide();
  params_->setMinimumWidth(600);
  params_->setColumnWidth(Path, 220);
  params_->setColumnWidth(Kind, 120);
  auto* add = new QPushButton(tr("Add parameter"), this);
  auto* remove = new QPushButton(tr("Remove"), this);
  connect(add, &QPushButton::clicked, this, [this] { addParameter(QStringLiteral("batch_size"), "grid", "32, 64"); });
  connect(remove, &QPushButton::clicked, this, [this] {
    if (params_->currentRow() >= 0) params_->removeRow(params_->currentRow());
  });
  auto* rowButtons = new QHBoxLayout;
  rowButtons->addWidget(add);
  rowButtons->addWidget(remove);
  rowButtons->addStretch(1);

  trials_->setRange(1, int(kMaxSweepTrials));
  trials_->setValue(1);
  trials_->setToolTip(tr("Random draws per grid point (1 without random parameters)"));
  for (const auto& m : sweep_metrics()) metric_->addItem(QString::fromStdString(m));
  goal_->addItems({"auto", "max", "min"});
  early_->addItems({"none", "median", "asha"});
  grace_->setRange(1, 1000);
  budget_->setRange(0, 100000);
  budget_->setSuffix(tr(" min"));
  budget_->setSpecialValueText(tr("none"));
  parallel_->setRange(1, 16);
  parallel_->setValue(2);
  problem_->setWordWrap(true);
  problem_->setStyleSheet(QStringLiteral("color: #d9534f"));

  auto* form = new QFormLayout;
  form->addRow(tr("Name"), name_);
  form->addRow(tr("Draws per grid point"), trials_);
  form->addRow(tr("Metric"), metric_);
  form->addRow(tr("Goal"), goal_);
  form->addRow(tr("Early termination"), early_);
  form->addRow(tr("Grace epochs"), grace_);
  form->addRow(tr("Time budget"), budget_);
  form->addRow(tr("Trials at once"), parallel_);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  buttons->button(QDialogButtonBox::Ok)->setText(tr("Run sweep"));
  connect(buttons, &QDialogButtonBox::accepted, this, &SweepDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(new QLabel(tr("Over the current settings, vary:"), this));
  layout->addWidget(params_);
  layout->addLayout(rowButtons);
  layout->addLayout(form);
  layout->addWidget(problem_);
  layout->addWidget(buttons);

  // A learning-rate search around the current rate to start from.
  const double lr = base.optimizer.lr;
  addParameter(QStringLiteral("optimizer.lr"), "log_uniform",
               QStringLiteral("%1, %2").arg(lr / 10, 0, 'g', 3).arg(lr * 10, 0, 'g', 3));
  setTrials(4);
}

void SweepDialog::addParameter(const QString& path, const QString& kind, const QString& values) {
  const int row = params_->rowCount();
  params_->insertRow(row);
  auto* p = new QComboBox(params_);
  p->setEditable(true);
  p->addItems({"optimizer.lr", "optimizer.weight_decay", "optimizer.momentum", "optimizer.name", "batch_size", "epochs",
               "label_smoothing", "schedule.kind", "model"});
  p->setCurrentText(path);
  params_->setCellWidget(row, Path, p);
  auto* k = new QComboBox(params_);
  for (const char* name : kKinds) k->addItem(QString::fromLatin1(name));
  k->setCurrentText(kind);
  params_->setCellWidget(row, Kind, k);
  params_->setItem(row, Values, new QTableWidgetItem(values));
}

void SweepDialog::clearParameters() { params_->setRowCount(0); }
void SweepDialog::setTrials(int draws) { trials_->setValue(draws); }
void SweepDialog::setMetric(const QString& metric, const QString& goal) {
  metric_->setCurrentText(metric);
  goal_->setCurrentText(goal);
}
void SweepDialog::setEarlyTermination(const QString& type, int grace_epochs) {
  early_->setCurrentText(type);
  grace_->setValue(grace_epochs);
}
void SweepDialog::setTimeBudgetMinutes(double minutes) { budget_->setValue(minutes); }
void SweepDialog::setName(const QString& name) { name_->setText(name); }
int SweepDialog::parallel() const { return parallel_->value(); }

nlohmann::json SweepDialog::spec() const {
  nlohmann::json grid = nlohmann::json::object(), random = nlohmann::json::object();
  for (int row = 0; row < params_->rowCount(); ++row) {
    const QString path = static_cast<QComboBox*>(params_->cellWidget(row, Path))->currentText().trimmed();
    const QString kind = static_cast<QComboBox*>(params_->cellWidget(row, Kind))->currentText();
    const QString text = params_->item(row, Values) ? params_->item(row, Values)->text() : QString();
    const std::string where = "parameter " + std::to_string(row + 1) + " (" + path.toStdString() + ")";
    if (path.isEmpty()) throw InputError(where, "has no config path");
    nlohmann::json values = nlohmann::json::array();
    for (const QString& v : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) values.push_back(parse_value(v));
    if (values.empty()) throw InputError(where, "has no values");
    if (kind == QLatin1String("grid")) {
      grid[path.toStdString()] = values;
    } else if (kind == QLatin1String("choice")) {
      random[path.toStdString()] = {{"choice", values}};
    } else {
      if (values.size() != 2 || !values[0].is_number() || !values[1].is_number())
        throw InputError(where, kind.toStdString() + " needs two numbers 'lo, hi', got '" + text.toStdString() + "'");
      random[path.toStdString()] = {{kind.toStdString(), values}};
    }
  }
  nlohmann::json j = {{"base", base_}, {"metric", metric_->currentText().toStdString()}};
  if (!grid.empty()) j["grid"] = grid;
  if (!random.empty()) {
    j["random"] = random;
    j["trials"] = trials_->value();
  }
  if (goal_->currentText() != QLatin1String("auto")) j["goal"] = goal_->currentText().toStdString();
  if (early_->currentText() != QLatin1String("none"))
    j["early_terminate"] = {{"type", early_->currentText().toStdString()}, {"grace_epochs", grace_->value()}};
  if (budget_->value() > 0) j["time_budget_minutes"] = budget_->value();
  if (!name_->text().trimmed().isEmpty()) j["name"] = name_->text().trimmed().toStdString();
  return j;
}

QString SweepDialog::problem() const {
  try {
    SweepSpec s = SweepSpec::from_json(spec());
    if (s.grid.empty() && s.random.empty()) return tr("Add at least one parameter to vary");
  } catch (const std::exception& e) {
    return QString::fromStdString(e.what());
  }
  return {};
}

void SweepDialog::accept() {
  const QString p = problem();
  problem_->setText(p);
  if (p.isEmpty()) QDialog::accept();
}

}  // namespace perceptra::studio
