#pragma once
// Model dock: pick a built-in architecture or edit the layer list (add,
// remove, reorder, set arguments); every row shows its output shape and
// parameter count; save and load specs as JSON.
#include <QWidget>

#include <nlohmann/json.hpp>

#include "core/tensor/shape.h"

class QComboBox;
class QLabel;
class QTableView;

namespace perceptra::studio {

class LayerTableModel;

class ModelPanel : public QWidget {
  Q_OBJECT
 public:
  explicit ModelPanel(QWidget* parent = nullptr);

  nlohmann::json spec() const;
  bool isValid() const;
  QString firstError() const;
  int64_t parameterCount() const;
  LayerTableModel* tableModel() const { return model_; }
  QString builtinName() const;

 public slots:
  void setInput(const perceptra::Shape& sample, int classes);
  void selectBuiltin(const QString& name);
  void setSpec(const nlohmann::json& spec);
  bool saveSpec(const QString& path);
  bool loadSpec(const QString& path);  // shows the error in the panel on failure

 signals:
  void specChanged();

 private:
  void addLayer(const QString& type);
  void refreshStatus();
  int currentRow() const;

  LayerTableModel* model_;
  QComboBox* builtins_;
  QTableView* table_;
  QLabel* status_;
  Shape input_{1, 28, 28};
  int classes_ = 10;
};

}  // namespace perceptra::studio
