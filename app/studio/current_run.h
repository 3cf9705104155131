#pragma once
// The run every view shows. One object, observed by the Live view (curves,
// confusion matrix), the Training dock (hyper-parameters, status), Inspect,
// the Dataset dock and the status bar: a run that starts, resumes or is
// reopened replaces the previous one everywhere at once, and switching the
// dataset away from a finished run's data clears the views that belonged to
// it (no confusion matrix relabelled with another dataset's classes, no
// Inspect images of a run that is no longer shown).
#include <QObject>
#include <QStringList>

#include <optional>

#include "core/train/config.h"
#include "core/train/run_history.h"

namespace perceptra::studio {

struct RunView {
  int64_t id = 0;  // 0 while a new run is being prepared (or none)
  QString title;   // "run 4 (finished)"
  QStringList classes;
  std::optional<TrainConfig> config;
  QString data;       // the dataset request the run trains on
  bool live = false;  // being trained in this session
};

class CurrentRun : public QObject {
  Q_OBJECT
 public:
  explicit CurrentRun(QObject* parent = nullptr) : QObject(parent) {}

  const RunView& view() const { return view_; }
  bool empty() const { return !view_.live && view_.id == 0 && view_.classes.isEmpty(); }
  int64_t id() const { return view_.id; }
  bool live() const { return view_.live; }

  // A run starting (resumedId > 0: that recorded run continuing).
  void beginLive(const TrainConfig& config, const QStringList& classes, int64_t resumedId = 0);
  // The live run got its id (TrainBegin).
  void setId(int64_t id, const QString& title);
  // The live run ended: it stays shown, no longer live.
  void endLive();
  // A recorded run reopened for a second look.
  void open(int64_t id, const TrainConfig& config, const QStringList& classes, const QString& title);
  // Curves recorded before (a resumed or reopened run): emitted before any
  // live event of the continuation.
  void setHistory(const RunHistory& history);
  // Nothing is shown any more (e.g. another dataset was opened).
  void clear(const QString& reason);
  // Whether opening dataset `request` keeps this run's views: the same
  // data, or a run still training (it continues on its own data).
  bool keepsViewsFor(const QString& request) const;

 signals:
  void changed(const perceptra::studio::RunView& view);
  void historyLoaded(const perceptra::RunHistory& history);
  void cleared(const QString& reason);

 private:
  RunView view_;
};

}  // namespace perceptra::studio
