#include "core/train/recorded_run.h"

#include "core/io/model_file.h"
#include "core/nn/model.h"
#include "core/tensor/error.h"

namespace perceptra {

RecordedRun open_recorded_run(const std::string& db_path, int64_t run_id) {
  RecordedRun r;
  ExperimentStore store(db_path);
  r.run = store.run(run_id);
  std::optional<ArtifactRecord> a;
  for (const char* kind : {"model", "best", "checkpoint"})
    if ((a = store.latest_artifact(run_id, kind))) break;
  if (!a) throw Error("run " + std::to_string(run_id) + " has no saved model or checkpoint");
  LoadedModel m = load_model(a->path);
  TrainConfig c = TrainConfig::from_json(r.run.hparams);
  Shape input = m.model->input_shape();
  r.data = std::make_shared<const PreparedData>(prepare_data(c, &input));
  r.model = std::shared_ptr<Model>(m.model.release());
  r.model_path = a->path;
  return r;
}

}  // namespace perceptra
