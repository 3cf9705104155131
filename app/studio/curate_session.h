#pragma once
// The dataset being fixed from Inspect (issue: fix the data, not just the
// model). It knows every image's identity (computed off the UI thread), the
// latest dataset version's relabels and exclusions (the marks Inspect
// draws, by image identity, so they survive switching views and filters),
// and performs the actions: relabel, exclude, restore and undo each write
// one new dataset version to the store (core/curate/dataset_versions.h),
// exactly what `perceptra-cli data relabel|exclude|restore` writes.
#include <QFutureWatcher>
#include <QObject>
#include <QString>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/curate/dataset_versions.h"

namespace perceptra {
struct PreparedData;
}

namespace perceptra::studio {

class CurationSession : public QObject {
  Q_OBJECT
 public:
  explicit CurationSession(QObject* parent = nullptr);
  ~CurationSession() override;

  void setDatabasePath(const QString& path) { dbPath_ = path; }
  QString databasePath() const { return dbPath_; }

  // The data Inspect shows. Another dataset resets the undo history; the
  // identities are computed in the background (identitiesReady).
  void setData(std::shared_ptr<const PreparedData> data);
  std::shared_ptr<const PreparedData> data() const { return data_; }
  bool ready() const { return ids_ != nullptr; }
  const SourceIdentities* identities() const { return ids_.get(); }
  std::shared_ptr<const SourceIdentities> sharedIdentities() const { return ids_; }
  const VersionState& state() const { return state_; }
  const std::string& datasetKey() const { return key_; }

  // The identity of base sample `index` of the train (or test) part; "" when
  // not ready. And back: where an image is.
  std::string imageAt(bool testPart, int64_t index) const;
  bool locate(const std::string& image, bool* testPart, int64_t* index) const;
  // The image's file (folders) or "" (IDX/CIFAR).
  QString filePath(const std::string& image) const;

  // What the latest version says about an image (null: unchanged).
  const ImageOverride* overrideOf(const std::string& image) const;
  int originalLabel(const std::string& image) const;  // -1 when unknown
  int64_t latestVersion() const { return latest_; }
  // "NAME@N" for the latest version (NAME alone when there is none).
  QString versionedDataRef() const;

  // Each writes one dataset version; false with *error (nothing written).
  bool relabel(const std::vector<std::string>& images, int cls, QString* error = nullptr);
  bool exclude(const std::vector<std::string>& images, QString* error = nullptr);
  bool restore(const std::vector<std::string>& images, QString* error = nullptr);
  // Reverts this session's last action as a new version (the images get
  // the state they had before it).
  bool undo(QString* error = nullptr);
  bool canUndo() const { return !undo_.empty(); }

  // Re-reads the latest version from the store (e.g. after the CLI changed it).
  void reload();

 signals:
  void identitiesReady();
  void changed();
  void failed(const QString& message);

 private:
  bool commit(const std::vector<ChangeRequest>& requests, bool recordUndo, QString* error);

  QString dbPath_;
  std::shared_ptr<const PreparedData> data_;
  std::shared_ptr<const SourceIdentities> ids_;
  std::string key_;
  std::unordered_map<std::string, std::pair<bool, int64_t>> where_;
  VersionState state_;
  int64_t latest_ = 0;
  std::vector<std::vector<ChangeRequest>> undo_;
  QFutureWatcher<std::shared_ptr<const SourceIdentities>> idWatcher_;
  quint64 generation_ = 0;
};

}  // namespace perceptra::studio
