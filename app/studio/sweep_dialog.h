#pragma once
// New sweep: the parameters to vary (a TrainConfig JSON path, grid values or
// a random draw: uniform / log-uniform bounds or choices), draws per grid
// point, the metric and goal, early termination, a time budget and how many
// trials run at once, over a base configuration (the studio's current
// settings). spec() is the same JSON `perceptra-cli sweep` reads; accepting
// checks it with SweepSpec and names the bad field instead of closing.
#include <QDialog>

#include <nlohmann/json.hpp>

#include "core/train/config.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;
class QTableWidget;

namespace perceptra::studio {

class SweepDialog : public QDialog {
  Q_OBJECT
 public:
  enum Column { Path, Kind, Values };

  explicit SweepDialog(const TrainConfig& base, QWidget* parent = nullptr);

  // One parameter row: kind is grid | uniform | log_uniform | choice;
  // values a comma-separated list (grid, choice) or "lo, hi".
  void addParameter(const QString& path, const QString& kind, const QString& values);
  void clearParameters();
  void setTrials(int draws);
  void setMetric(const QString& metric, const QString& goal = QStringLiteral("auto"));
  void setEarlyTermination(const QString& type, int grace_epochs = 1);
  void setTimeBudgetMinutes(double minutes);
  void setName(const QString& name);
  int parallel() const;

  // The spec as JSON; throws InputError naming the row or field when a
  // value cannot be read.
  nlohmann::json spec() const;
  // Empty when spec() is a valid sweep, else what is wrong.
  QString problem() const;
  QLabel* problemLabel() const { return problem_; }

 public slots:
  void accept() override;

 private:
  nlohmann::json base_;
  QLineEdit* name_;
  QTableWidget* params_;
  QSpinBox* trials_;
  QComboBox* metric_;
  QComboBox* goal_;
  QComboBox* early_;
  QSpinBox* grace_;
  QDoubleSpinBox* budget_;
  QSpinBox* parallel_;
  QLabel* problem_;
};

}  // namespace perceptra::studio
