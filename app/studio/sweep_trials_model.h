#pragma once
// The trials of one sweep as a Qt table model (data only, no widgets): one
// row per trial with its index, run id, state, score on the sweep's metric
// and the value of every varied hyper-parameter. Qt::DisplayRole gives the
// text, SortRole a value that sorts right (numbers as numbers, trials
// without a score last in either order), Qt::BackgroundRole marks the best
// trial. axes()/lines() give the same table for the parallel-coordinates
// plot (categorical values as indices).
#include <QAbstractTableModel>
#include <QStringList>

#include <optional>
#include <string>
#include <vector>

#include "core/sweep/ranking.h"
#include "widgets/parallel_coordinates.h"

namespace perceptra::studio {

class SweepTrialsModel : public QAbstractTableModel {
  Q_OBJECT
 public:
  enum Column { Trial, Run, State, Score, FirstParam };
  static constexpr int SortRole = Qt::UserRole + 1;
  static constexpr int RunIdRole = Qt::UserRole + 2;

  explicit SweepTrialsModel(QObject* parent = nullptr);

  // Replaces the rows (a sweep's ranking from rank_sweep()).
  void setRanking(const SweepRanking& ranking);
  void clear();

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation o, int role = Qt::DisplayRole) const override;

  const std::vector<std::string>& paramPaths() const { return params_; }
  const std::string& metric() const { return metric_; }
  bool maximize() const { return goal_ == "max"; }
  qint64 bestRunId() const { return best_run_; }
  qint64 runIdAt(int row) const;
  int rowOfRun(qint64 run_id) const;  // -1 when absent

  // Parallel coordinates: one axis per parameter, then the metric.
  std::vector<widgets::ParallelCoordinates::Axis> axes() const;
  std::vector<std::vector<double>> lines() const;
  std::vector<qint64> lineIds() const;

 private:
  // A parameter value as a number on its axis (categories: their index).
  double numeric(size_t param, const nlohmann::json& v) const;

  std::vector<RankedTrial> rows_;
  std::vector<std::string> params_;      // varied paths, sorted
  std::vector<QStringList> categories_;  // per param: non-numeric values seen (sorted)
  std::vector<bool> log_;                // per param: log-uniform or spanning decades
  std::string metric_, goal_ = "max";
  qint64 best_run_ = -1;
};

}  // namespace perceptra::studio
