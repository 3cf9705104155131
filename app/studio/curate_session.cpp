#include "app/studio/curate_session.h"

#include <QtConcurrent/QtConcurrent>

#include "core/data/curated_dataset.h"
#include "core/store/store.h"
#include "core/train/setup.h"

namespace perceptra::studio {

CurationSession::CurationSession(QObject* parent) : QObject(parent) {
  connect(&idWatcher_, &QFutureWatcher<std::shared_ptr<const SourceIdentities>>::finished, this, [this] {
    if (idWatcher_.property("generation").toULongLong() != generation_) return;
    auto ids = idWatcher_.result();
    if (!ids) {
      emit failed(idWatcher_.property("error").toString());
      return;
    }
    ids_ = ids;
    where_.clear();
    for (bool test : {false, true}) {
      const auto& part = ids_->part(test);
      for (size_t i = 0; i < part.size(); ++i) where_.emplace(part[i].image, std::pair{test, int64_t(i)});
    }
    reload();
    emit identitiesReady();
  });
}

CurationSession::~CurationSession() { idWatcher_.waitForFinished(); }

void CurationSession::setData(std::shared_ptr<const PreparedData> data) {
  if (!data) return;
  const std::string key = data->dataset_key.empty() ? dataset_key(data->source) : data->dataset_key;
  const bool same = key == key_ && ids_;
  data_ = data;
  if (same) {
    reload();
    return;
  }
  key_ = key;
  ids_.reset();
  where_.clear();
  state_.clear();
  undo_.clear();
  latest_ = 0;
  const quint64 gen = ++generation_;
  idWatcher_.setProperty("generation", gen);
  if (data->ids) {
    // Already known (the run trained on a dataset version).
    auto ids = data->ids;
    idWatcher_.setFuture(QtConcurrent::run([ids] { return ids; }));
    return;
  }
  idWatcher_.setFuture(QtConcurrent::run([data]() -> std::shared_ptr<const SourceIdentities> {
    try {
      return std::make_shared<const SourceIdentities>(identify(data->source));
    } catch (const std::exception&) {
      return nullptr;  // an image vanished meanwhile: curation stays off for this data
    }
  }));
}

std::string CurationSession::imageAt(bool testPart, int64_t index) const {
  if (!ids_) return "";
  const auto& part = ids_->part(testPart);
  return index >= 0 && size_t(index) < part.size() ? part[size_t(index)].image : std::string();
}

bool CurationSession::locate(const std::string& image, bool* testPart, int64_t* index) const {
  auto it = where_.find(image);
  if (it == where_.end()) return false;
  *testPart = it->second.first;
  *index = it->second.second;
  return true;
}

QString CurationSession::filePath(const std::string& image) const {
  bool test = false;
  int64_t index = 0;
  if (!data_ || !locate(image, &test, &index)) return {};
  return QString::fromStdString(image_file_path(data_->source, test, index));
}

const ImageOverride* CurationSession::overrideOf(const std::string& image) const {
  auto it = state_.find(image);
  return it == state_.end() ? nullptr : &it->second;
}

int CurationSession::originalLabel(const std::string& image) const {
  bool test = false;
  int64_t index = 0;
  if (!data_ || !locate(image, &test, &index)) return -1;
  const auto& d = test ? data_->source.test : data_->source.train;
  return d ? uncurated(*d).label(index) : -1;
}

QString CurationSession::versionedDataRef() const {
  if (!data_) return {};
  const QString name = QString::fromStdString(data_->source.name);
  return latest_ > 0 ? QStringLiteral("%1@%2").arg(name).arg(latest_) : name;
}

void CurationSession::reload() {
  if (key_.empty() || dbPath_.isEmpty() || dbPath_ == QLatin1String("-")) return;
  try {
    ExperimentStore st(dbPath_.toStdString());
    latest_ = st.latest_dataset_version(key_);
    state_ = version_state(st, key_, latest_);
  } catch (const std::exception& e) {
    emit failed(QString::fromStdString(e.what()));
  }
  emit changed();
}

bool CurationSession::commit(const std::vector<ChangeRequest>& requests, bool recordUndo, QString* error) {
  auto fail = [&](const QString& m) {
    if (error) *error = m;
    return false;
  };
  if (!ids_ || !data_) return fail(tr("Still reading the images; try again in a moment."));
  if (dbPath_.isEmpty() || dbPath_ == QLatin1String("-"))
    return fail(tr("No experiment database to keep the versions in."));
  if (requests.empty()) return fail(tr("Select one or more images first."));
  // What each image was before: undoing gives it back exactly that.
  std::vector<ChangeRequest> inverse;
  for (const auto& r : requests) {
    const ImageOverride* o = overrideOf(r.image);
    if (!o)
      inverse.push_back({r.image, "restore", -1});
    else if (o->excluded)
      inverse.push_back({r.image, "exclude", -1});
    else
      inverse.push_back({r.image, "relabel", o->label});
  }
  try {
    ExperimentStore st(dbPath_.toStdString());
    commit_changes(st, data_->source, *ids_, requests, current_user(), "studio");
    latest_ = st.latest_dataset_version(key_);
    state_ = version_state(st, key_, latest_);
  } catch (const std::exception& e) {
    return fail(QString::fromStdString(e.what()));
  }
  if (recordUndo) undo_.push_back(std::move(inverse));
  emit changed();
  return true;
}

namespace {
std::vector<ChangeRequest> requests(const std::vector<std::string>& images, const char* action, int label) {
  std::vector<ChangeRequest> out;
  for (const auto& i : images) out.push_back({i, action, label});
  return out;
}
}  // namespace

bool CurationSession::relabel(const std::vector<std::string>& images, int cls, QString* error) {
  // Images already of that class are left out (changing nothing is refused).
  std::vector<std::string> todo;
  for (const auto& i : images) {
    const ImageOverride* o = overrideOf(i);
    const int current = o && o->label >= 0 ? o->label : originalLabel(i);
    if (current != cls || (o && o->excluded)) todo.push_back(i);
  }
  if (todo.empty() && !images.empty()) {
    if (error) *error = tr("Already of that class.");
    return false;
  }
  return commit(requests(todo, "relabel", cls), true, error);
}

bool CurationSession::exclude(const std::vector<std::string>& images, QString* error) {
  std::vector<std::string> todo;
  for (const auto& i : images)
    if (const ImageOverride* o = overrideOf(i); !o || !o->excluded) todo.push_back(i);
  if (todo.empty() && !images.empty()) {
    if (error) *error = tr("Already excluded.");
    return false;
  }
  return commit(requests(todo, "exclude", -1), true, error);
}

bool CurationSession::restore(const std::vector<std::string>& images, QString* error) {
  std::vector<std::string> todo;
  for (const auto& i : images)
    if (overrideOf(i)) todo.push_back(i);
  if (todo.empty() && !images.empty()) {
    if (error) *error = tr("Not relabelled or excluded.");
    return false;
  }
  return commit(requests(todo, "restore", -1), true, error);
}

bool CurationSession::undo(QString* error) {
  if (undo_.empty()) {
    if (error) *error = tr("Nothing to undo.");
    return false;
  }
  const auto inverse = undo_.back();
  if (!commit(inverse, false, error)) return false;
  undo_.pop_back();
  return true;
}

}  // namespace perceptra::studio
