#include "app/studio/current_run.h"

namespace perceptra::studio {

void CurrentRun::beginLive(const TrainConfig& config, const QStringList& classes, int64_t resumedId) {
  view_ = RunView{};
  view_.id = resumedId;
  view_.config = config;
  view_.classes = classes;
  view_.data = QString::fromStdString(config.data);
  view_.live = true;
  view_.title = resumedId > 0 ? tr("run %1 (resuming)").arg(resumedId) : tr("new run");
  emit changed(view_);
}

void CurrentRun::setId(int64_t id, const QString& title) {
  view_.id = id;
  view_.title = title;
}

void CurrentRun::endLive() { view_.live = false; }

void CurrentRun::open(int64_t id, const TrainConfig& config, const QStringList& classes, const QString& title) {
  view_ = RunView{};
  view_.id = id;
  view_.config = config;
  view_.classes = classes;
  view_.data = QString::fromStdString(config.data);
  view_.title = title;
  emit changed(view_);
}

void CurrentRun::setHistory(const RunHistory& history) {
  if (history.run_id != view_.id || history.empty()) return;
  emit historyLoaded(history);
}

void CurrentRun::clear(const QString& reason) {
  if (empty()) return;
  view_ = RunView{};
  emit cleared(reason);
}

bool CurrentRun::keepsViewsFor(const QString& request) const { return view_.live || empty() || view_.data == request; }

}  // namespace perceptra::studio
