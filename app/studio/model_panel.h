#pragma once
// Model dock: pick a built-in architecture or edit the layer list (add,
// remove, reorder, set arguments); every row shows its output shape and
// parameter count; save and load specs as JSON.
#include <QWidget>

#include <nlohmann/json.hpp>

#include "core/tensor/shape.h"

class QComboBox;
class QMenu;
class QLabel;
class QTableView;

namespace perceptra::studio {

class LayerTableModel;
class CostView;
class StartFromBox;

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
  CostView* costView() const { return cost_; }
  QTableView* layerTable() const { return table_; }
  // The context menu of a layer row (right-click), built for tests too.
  QMenu* layerMenu(int row);
  // Scratch / a saved run's model / a file (start_from_box.h).
  StartFromBox* startFrom() const { return startFrom_; }

 public slots:
  void setInput(const perceptra::Shape& sample, int classes);
  void selectBuiltin(const QString& name);
  void setSpec(const nlohmann::json& spec);
  bool saveSpec(const QString& path);
  // A spec JSON file, or the spec of a model file (.pmodel/.ckpt, weights
  // not loaded); on failure shows the error in the panel and emits loadFailed.
  bool loadSpec(const QString& path);

 signals:
  void specChanged();
  void loadFailed(const QString& path, const QString& error);
  // Layer context menu: show that layer's activations in the Live view.
  void activationsRequested(const QString& layerName);

 private:
  void addLayer(const QString& type);
  void refreshStatus();
  int currentRow() const;

  LayerTableModel* model_;
  QComboBox* builtins_;
  QTableView* table_;
  QLabel* status_;
  CostView* cost_;
  StartFromBox* startFrom_;
  Shape input_{1, 28, 28};
  int classes_ = 10;
};

}  // namespace perceptra::studio
