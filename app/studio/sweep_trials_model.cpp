#include "app/studio/sweep_trials_model.h"

#include <QBrush>
#include <QColor>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace perceptra::studio {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

QString value_text(const nlohmann::json& v) {
  if (v.is_null()) return QStringLiteral("-");
  if (v.is_string()) return QString::fromStdString(v.get<std::string>());
  if (v.is_number_float()) {
    double d = v.get<double>();
    double a = std::abs(d);
    return (a != 0 && (a < 1e-3 || a >= 1e5)) ? QString::number(d, 'e', 2) : QString::number(d, 'g', 5);
  }
  return QString::fromStdString(v.dump());
}

bool is_numeric(const nlohmann::json& v) { return v.is_number(); }

}  // namespace

SweepTrialsModel::SweepTrialsModel(QObject* parent) : QAbstractTableModel(parent) {}

void SweepTrialsModel::clear() {
  beginResetModel();
  rows_.clear();
  params_.clear();
  categories_.clear();
  log_.clear();
  metric_.clear();
  best_run_ = -1;
  endResetModel();
}

void SweepTrialsModel::setRanking(const SweepRanking& r) {
  beginResetModel();
  rows_ = r.trials;
  metric_ = r.metric;
  goal_ = r.goal;
  // The varied parameters: the union of the trials' parameter paths.
  std::set<std::string> paths;
  for (const auto& t : rows_)
    if (t.summary.run.trial_params.is_object())
      for (auto it = t.summary.run.trial_params.begin(); it != t.summary.run.trial_params.end(); ++it)
        paths.insert(it.key());
  params_.assign(paths.begin(), paths.end());
  // Log scale: log_uniform in the spec, or positive values spanning two decades.
  std::set<std::string> log_paths;
  if (r.sweep.spec.contains("random") && r.sweep.spec["random"].is_object())
    for (auto it = r.sweep.spec["random"].begin(); it != r.sweep.spec["random"].end(); ++it)
      if (it.value().is_object() && it.value().contains("log_uniform")) log_paths.insert(it.key());
  categories_.assign(params_.size(), {});
  log_.assign(params_.size(), false);
  for (size_t p = 0; p < params_.size(); ++p) {
    std::set<QString> cats;
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    bool all_numeric = true;
    for (const auto& t : rows_) {
      const auto& tp = t.summary.run.trial_params;
      if (!tp.is_object() || !tp.contains(params_[p])) continue;
      const auto& v = tp[params_[p]];
      if (is_numeric(v)) {
        double d = v.get<double>();
        lo = std::min(lo, d);
        hi = std::max(hi, d);
      } else {
        all_numeric = false;
        cats.insert(value_text(v));
      }
    }
    if (!all_numeric) {
      // Mixed: numbers become categories too (by their text).
      for (const auto& t : rows_) {
        const auto& tp = t.summary.run.trial_params;
        if (tp.is_object() && tp.contains(params_[p])) cats.insert(value_text(tp[params_[p]]));
      }
      categories_[p] = QStringList(cats.begin(), cats.end());
    } else {
      log_[p] = log_paths.count(params_[p]) > 0 || (lo > 0 && hi / lo >= 100);
    }
  }
  best_run_ = -1;
  for (const auto& t : rows_)
    if (t.score) {  // ranked best first
      best_run_ = t.summary.run.id;
      break;
    }
  endResetModel();
}

int SweepTrialsModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : int(rows_.size()); }

int SweepTrialsModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : FirstParam + int(params_.size());
}

qint64 SweepTrialsModel::runIdAt(int row) const {
  return row >= 0 && row < int(rows_.size()) ? rows_[size_t(row)].summary.run.id : -1;
}

int SweepTrialsModel::rowOfRun(qint64 run_id) const {
  for (size_t i = 0; i < rows_.size(); ++i)
    if (rows_[i].summary.run.id == run_id) return int(i);
  return -1;
}

QVariant SweepTrialsModel::headerData(int section, Qt::Orientation o, int role) const {
  if (o != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case Trial:
      return tr("Trial");
    case Run:
      return tr("Run");
    case State:
      return tr("State");
    case Score:
      return metric_.empty() ? tr("Score") : QString::fromStdString(metric_);
    default:
      if (section - FirstParam < int(params_.size()))
        return QString::fromStdString(params_[size_t(section - FirstParam)]);
      return {};
  }
}

QVariant SweepTrialsModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= int(rows_.size())) return {};
  const RankedTrial& t = rows_[size_t(index.row())];
  const RunRecord& run = t.summary.run;
  const int c = index.column();
  if (role == RunIdRole) return qint64(run.id);
  if (role == Qt::BackgroundRole) {
    if (run.id == best_run_) return QBrush(QColor(46, 204, 113, 70));
    return {};
  }
  if (role == Qt::ToolTipRole) {
    QString tip = tr("Run %1: %2").arg(run.id).arg(QString::fromStdString(t.state));
    if (!run.status_message.empty()) tip += "\n" + QString::fromStdString(run.status_message);
    if (run.id == best_run_) tip += "\n" + tr("best trial");
    return tip;
  }
  if (role == Qt::TextAlignmentRole)
    return c == State ? QVariant(Qt::AlignLeft | Qt::AlignVCenter) : QVariant(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole && role != SortRole) return {};
  const bool sort = role == SortRole;
  switch (c) {
    case Trial:
      return qlonglong(run.trial_index);
    case Run:
      return qlonglong(run.id);
    case State:
      return QString::fromStdString(t.state);
    case Score:
      if (!t.score) return sort ? QVariant(maximize() ? -1e300 : 1e300) : QVariant(QStringLiteral("-"));
      return sort ? QVariant(*t.score) : QVariant(QString::number(*t.score, 'f', 4));
    default: {
      const size_t p = size_t(c - FirstParam);
      if (p >= params_.size()) return {};
      const auto& tp = run.trial_params;
      if (!tp.is_object() || !tp.contains(params_[p])) return sort ? QVariant() : QVariant(QStringLiteral("-"));
      const auto& v = tp[params_[p]];
      if (sort && categories_[p].isEmpty() && v.is_number()) return v.get<double>();
      return value_text(v);
    }
  }
}

double SweepTrialsModel::numeric(size_t p, const nlohmann::json& v) const {
  if (!categories_[p].isEmpty()) {
    int i = int(categories_[p].indexOf(value_text(v)));
    return i >= 0 ? double(i) : kNaN;
  }
  return v.is_number() ? v.get<double>() : kNaN;
}

std::vector<widgets::ParallelCoordinates::Axis> SweepTrialsModel::axes() const {
  std::vector<widgets::ParallelCoordinates::Axis> a;
  for (size_t p = 0; p < params_.size(); ++p)
    a.push_back({QString::fromStdString(params_[p]), bool(log_[p]), categories_[p]});
  a.push_back({QString::fromStdString(metric_), false, {}});
  return a;
}

std::vector<std::vector<double>> SweepTrialsModel::lines() const {
  std::vector<std::vector<double>> out;
  for (const auto& t : rows_) {
    std::vector<double> l;
    const auto& tp = t.summary.run.trial_params;
    for (size_t p = 0; p < params_.size(); ++p)
      l.push_back(tp.is_object() && tp.contains(params_[p]) ? numeric(p, tp[params_[p]]) : kNaN);
    l.push_back(t.score ? *t.score : kNaN);
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<qint64> SweepTrialsModel::lineIds() const {
  std::vector<qint64> ids;
  for (const auto& t : rows_) ids.push_back(t.summary.run.id);
  return ids;
}

}  // namespace perceptra::studio
