#pragma once
// The model editor's table: one row per top-level layer of a model spec, with
// its output shape and parameter count recomputed (Model::analyze) on every
// edit, and the offending row flagged when the spec does not fit together.
#include <QAbstractTableModel>

#include <nlohmann/json.hpp>

#include "core/nn/model.h"

namespace perceptra::studio {

class LayerTableModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { Index, Type, Arguments, Output, Params, ColumnCount };

  explicit LayerTableModel(QObject* parent = nullptr);

  // Whole spec ({"name","input","classes","layers"}).
  void setSpec(const nlohmann::json& spec);
  const nlohmann::json& spec() const { return spec_; }
  // Input shape [C,H,W] and class count come from the dataset.
  void setInput(const Shape& sample, int classes);

  void insertLayer(int row, const nlohmann::json& layer);
  void removeLayer(int row);
  void moveLayer(int from, int to);

  int64_t totalParameters() const { return total_params_; }
  // First error ("layer 3 (conv2d): ..."), empty when the spec is valid.
  QString firstError() const { return first_error_; }
  bool isValid() const { return first_error_.isEmpty(); }
  // The layer's name as the model will call it ("conv0", "res4").
  QString layerName(int row) const {
    return row >= 0 && row < int(rows_.size()) ? QString::fromStdString(rows_[size_t(row)].name) : QString();
  }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation o, int role) const override;
  Qt::ItemFlags flags(const QModelIndex& index) const override;
  bool setData(const QModelIndex& index, const QVariant& value, int role) override;

  // "out_channels=32, kernel=3" <-> {"out_channels":32,"kernel":3}; nested
  // values (a residual's layers) are written as JSON.
  static QString formatArgs(const nlohmann::json& layer);
  static bool parseArgs(const QString& text, nlohmann::json& args, QString* error);

 signals:
  void specChanged();

 private:
  void reanalyze();

  nlohmann::json spec_;
  std::vector<LayerSummary> rows_;
  int64_t total_params_ = 0;
  QString first_error_;
};

}  // namespace perceptra::studio
