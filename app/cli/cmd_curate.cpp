// perceptra-cli data suspects|duplicates|relabel|exclude|restore|versions|
// export|history|ledger: fixing the data (core/curate). Dispatched from
// `data` (cmd_data.cpp). The user's files are never written; every change
// is a new dataset version in the experiment store.
#include "app/cli/cmd_curate.h"

#include <cstdio>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cli/args.h"
#include "app/cli/train_options.h"
#include "core/curate/dataset_versions.h"
#include "core/curate/duplicates.h"
#include "core/curate/ledger.h"
#include "core/curate/suspects.h"
#include "core/data/split.h"
#include "core/store/store.h"
#include "core/tensor/bounded_json.h"
#include "core/tensor/error.h"
#include "core/train/out_of_fold.h"
#include "core/train/recorded_run.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli data suspects --run ID [--top N] [--only] [--json] [--db FILE]\n"
    "       perceptra-cli data duplicates DATASET [--valid-pct P] [--seed S]\n"
    "                                     [--max-distance BITS] [--json]\n"
    "       perceptra-cli data relabel DATASET IMAGE [IMAGE...] CLASS [--reason TEXT]\n"
    "       perceptra-cli data exclude DATASET IMAGE [IMAGE...] [--reason TEXT]\n"
    "       perceptra-cli data restore DATASET IMAGE [IMAGE...] [--reason TEXT]\n"
    "       perceptra-cli data versions DATASET [--json]\n"
    "       perceptra-cli data export DATASET --version V --out FOLDER\n"
    "       perceptra-cli data history DATASET IMAGE [--json]\n"
    "       perceptra-cli data ledger --run ID          (score a recorded run's saved model)\n"
    "       perceptra-cli data score-oof --data DATASET[@V] [--folds K] [training options]\n\n"
    "IMAGE is the path relative to the dataset's folder for image folders, the index\n"
    "(or test:INDEX) for IDX/CIFAR data. CLASS is a class name or number.\n"
    "suspects:   likely label errors: images the run's final model (and every other\n"
    "            run of the same data that has a ledger, unless --only) is confidently\n"
    "            wrong about, the most suspicious first\n"
    "duplicates: exact and near-identical images, flagging groups that mix classes and\n"
    "            groups on both sides of the train/validation split (a leak); the split\n"
    "            is training's default (official test set, else --valid-pct 20, --seed 0)\n"
    "relabel, exclude, restore: one new dataset version each (the files are not touched);\n"
    "            train on it with `perceptra-cli train --data DATASET@V` (or @latest)\n"
    "export:     writes version V as a new image folder (the cleaned copy)\n"
    "score-oof:  out-of-fold scores (confident learning): K models (default 5), each trained\n"
    "            with the training options on the other folds, score the fold they never\n"
    "            saw; recorded as a run whose ledger `data suspects --run ID` ranks\n"
    "exit status: 0 ok, 1 bad data / store error, 2 usage error\n";

std::string when(double t) {
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&tt));
  return buf;
}

std::string class_name(const std::vector<std::string>& names, int c) {
  return c >= 0 && size_t(c) < names.size() ? names[size_t(c)] : std::to_string(c);
}

// The class names a run trained with (its dataset row), for display.
std::vector<std::string> run_classes(ExperimentStore& st, const RunRecord& r) {
  if (!r.dataset_id) return {};
  auto d = st.dataset(*r.dataset_id);
  if (!d || !d->info.is_object() || !d->info.contains("classes") || !d->info["classes"].is_array()) return {};
  std::vector<std::string> out;
  for (const auto& c : d->info["classes"]) out.push_back(c.is_string() ? c.get<std::string>() : "?");
  return out;
}

int suspects(const Args& a) {
  const auto run_id = a.get_int("run");
  if (!run_id) throw UsageError("data suspects needs --run ID");
  const long long top = a.get_int("top").value_or(20);
  ExperimentStore st(required_database(a));
  const RunRecord run = st.run(*run_id);
  auto primary = read_ledger(st, *run_id);
  if (!primary)
    throw InputError("run " + std::to_string(*run_id),
                     "has no ledger (runs record one when they finish; for an older run use "
                     "`perceptra-cli data ledger --run " +
                         std::to_string(*run_id) + "`)");
  std::vector<std::vector<LedgerEntry>> other_entries;
  std::vector<LedgerOfRun> others;
  if (!a.flag("only")) {
    for (auto& rec : st.ledgers(primary->record.dataset_key, true)) {
      if (rec.run_id == *run_id) continue;
      other_entries.push_back(decode_ledger(rec.blob, st.path() + ": ledger of run " + std::to_string(rec.run_id)));
      others.push_back({rec.run_id, nullptr});
    }
    for (size_t i = 0; i < others.size(); ++i) others[i].entries = &other_entries[i];
  }
  const auto ranked = rank_suspects({*run_id, &primary->entries}, others, top);
  const auto names = run_classes(st, run);
  if (a.flag("json")) {
    nlohmann::json j = {{"run", *run_id},
                        {"dataset", primary->record.dataset_key},
                        {"dataset_version", primary->record.dataset_version},
                        {"runs_considered", 1 + others.size()},
                        {"suspects", nlohmann::json::array()}};
    for (const auto& s : ranked)
      j["suspects"].push_back({{"image", s.image},
                               {"content_hash", hash_hex(s.hash)},
                               {"side", s.valid ? "valid" : "train"},
                               {"label", s.label},
                               {"label_name", class_name(names, s.label)},
                               {"predicted", s.predicted},
                               {"predicted_name", class_name(names, s.predicted)},
                               {"score", s.score},
                               {"mean_p_label", s.mean_p_label},
                               {"runs", s.runs},
                               {"runs_wrong", s.runs_wrong},
                               {"run_ids", s.run_ids}});
    std::printf("%s\n", dump_json_safe(j, 2).c_str());
    return 0;
  }
  std::printf("suspected label errors in %s (version %lld), run %lld and %zu other run(s):\n",
              primary->record.dataset_key.c_str(), (long long)primary->record.dataset_version, (long long)*run_id,
              others.size());
  std::printf("%4s  %-40s %-6s %-14s %-14s %6s %7s\n", "#", "image", "side", "label", "predicted", "p(lbl)", "wrong");
  int k = 0;
  for (const auto& s : ranked)
    std::printf("%4d  %-40s %-6s %-14s %-14s %6.3f %3d of %d\n", ++k, s.image.c_str(), s.valid ? "valid" : "train",
                class_name(names, s.label).c_str(), class_name(names, s.predicted).c_str(), s.mean_p_label,
                s.runs_wrong, s.runs);
  if (ranked.empty()) std::printf("(no image is misclassified by these runs)\n");
  return 0;
}

DataSource open_plain(const std::string& name) {
  DataRef ref = parse_data_ref(name);
  if (ref.versioned()) throw UsageError("give the dataset without @VERSION here (changes always build on the latest)");
  return open_dataset(name);
}

int duplicates(const Args& a) {
  if (a.positional().size() != 2) throw UsageError("data duplicates needs one DATASET");
  const DataSource src = open_plain(a.positional()[1]);
  const SourceIdentities ids = identify(src);
  Split split;
  if (!src.test) {
    SplitOptions so;
    so.valid_pct = a.get_double("valid-pct").value_or(20.0) / 100.0;
    so.seed = uint64_t(a.get_int("seed").value_or(0));
    split = make_split(*src.train, so);
  }
  DuplicateOptions o;
  if (auto d = a.get_int("max-distance")) o.max_distance = int(*d);
  const DuplicateReport r = find_duplicates(src, ids, split, o);
  int64_t leaks = 0, cross = 0;
  for (const auto& g : r.groups) leaks += g.leak, cross += g.cross_class;
  if (a.flag("json")) {
    nlohmann::json j = {{"dataset", dataset_key(src)}, {"images", r.images}, {"groups", nlohmann::json::array()}};
    for (const auto& g : r.groups) {
      nlohmann::json m = nlohmann::json::array();
      for (const auto& x : g.members)
        m.push_back({{"image", x.image},
                     {"label", x.label},
                     {"label_name", class_name(src.class_names, x.label)},
                     {"side", x.valid ? "valid" : "train"}});
      j["groups"].push_back({{"kind", g.exact ? "exact" : "near"},
                             {"cross_class", g.cross_class},
                             {"leak", g.leak},
                             {"max_distance", g.max_distance},
                             {"members", m}});
    }
    std::printf("%s\n", dump_json_safe(j, 2).c_str());
    return 0;
  }
  std::printf(
      "%lld images, %zu duplicate groups (%lld across the train/validation split, %lld "
      "with different labels)\n",
      (long long)r.images, r.groups.size(), (long long)leaks, (long long)cross);
  for (const auto& g : r.groups) {
    std::printf("%s%s%s:\n", g.exact ? "exact" : "near", g.leak ? ", train/valid leak" : "",
                g.cross_class ? ", different labels" : "");
    for (const auto& x : g.members)
      std::printf("    %-50s %-14s %s\n", x.image.c_str(), class_name(src.class_names, x.label).c_str(),
                  x.valid ? "valid" : "train");
  }
  return 0;
}

int change(const Args& a, const std::string& action) {
  const auto& p = a.positional();
  const size_t need = action == "relabel" ? 4 : 3;
  if (p.size() < need)
    throw UsageError("data " + action + " needs DATASET IMAGE" + (action == "relabel" ? " CLASS" : ""));
  ExperimentStore st(required_database(a));
  const DataSource src = open_plain(p[1]);
  const SourceIdentities ids = identify(src);
  std::vector<ChangeRequest> req;
  const size_t last = action == "relabel" ? p.size() - 1 : p.size();
  const int label = action == "relabel" ? parse_class(src, p.back()) : -1;
  for (size_t i = 2; i < last; ++i) req.push_back({p[i], action, label});
  const int64_t v = commit_changes(st, src, ids, req, current_user(), a.get_or("reason", ""));
  std::printf("%s: version %lld (%s %zu image%s)\n", p[1].c_str(), (long long)v, action.c_str(), req.size(),
              req.size() == 1 ? "" : "s");
  return 0;
}

int versions(const Args& a) {
  if (a.positional().size() != 2) throw UsageError("data versions needs one DATASET");
  ExperimentStore st(required_database(a));
  const DataSource src = open_plain(a.positional()[1]);
  const std::string key = dataset_key(src);
  const auto all = st.dataset_versions(key, true);
  if (a.flag("json")) {
    nlohmann::json j = {{"dataset", key}, {"versions", nlohmann::json::array()}};
    for (const auto& v : all) {
      nlohmann::json ch = nlohmann::json::array();
      for (const auto& c : v.changes) {
        nlohmann::json x = {{"image", c.image}, {"action", c.action}, {"content_hash", c.content_hash}};
        if (c.action == "relabel") x["label"] = c.label, x["label_name"] = class_name(src.class_names, c.label);
        ch.push_back(x);
      }
      const VersionState state = version_state(st, key, v.version);
      int64_t relabelled = 0, excluded = 0;
      for (const auto& [img, o] : state) o.excluded ? ++excluded : ++relabelled;
      j["versions"].push_back({{"version", v.version},
                               {"parent", v.parent},
                               {"author", v.author},
                               {"reason", v.reason},
                               {"created_at", v.created_at},
                               {"changes", ch},
                               {"relabelled", relabelled},
                               {"excluded", excluded}});
    }
    std::printf("%s\n", dump_json_safe(j, 2).c_str());
    return 0;
  }
  std::printf("%s: %zu version(s); version 0 is the files as they are\n", key.c_str(), all.size());
  for (const auto& v : all) {
    std::printf("  v%-4lld from v%-4lld %s  %-10s %zu change(s)%s%s\n", (long long)v.version, (long long)v.parent,
                when(v.created_at).c_str(), v.author.c_str(), v.changes.size(), v.reason.empty() ? "" : "  ",
                v.reason.c_str());
    for (const auto& c : v.changes)
      std::printf("         %-8s %s%s\n", c.action.c_str(), c.image.c_str(),
                  c.action == "relabel" ? (" -> " + class_name(src.class_names, c.label)).c_str() : "");
  }
  return 0;
}

int export_cmd(const Args& a) {
  if (a.positional().size() != 2) throw UsageError("data export needs one DATASET");
  const auto v = a.get_int("version");
  const auto out = a.get("out");
  if (!v || !out) throw UsageError("data export needs --version V and --out FOLDER");
  ExperimentStore st(required_database(a));
  const DataSource src = open_plain(a.positional()[1]);
  const SourceIdentities ids = identify(src);
  const VersionState state = version_state(st, dataset_key(src), *v);
  const int64_t n = export_version(src, ids, state, *out);
  std::printf("wrote %lld images of version %lld to %s\n", (long long)n, (long long)*v, out->c_str());
  return 0;
}

int history(const Args& a) {
  if (a.positional().size() != 3) throw UsageError("data history needs DATASET IMAGE");
  ExperimentStore st(required_database(a));
  const DataSource src = open_plain(a.positional()[1]);
  const SourceIdentities ids = identify(src);
  const ImageLocation at = locate_image(src, ids, a.positional()[2]);
  const auto rows = image_history(st, dataset_key(src), at.identity->image);
  if (a.flag("json")) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows)
      j.push_back({{"run", r.run_id},
                   {"dataset_version", r.dataset_version},
                   {"label", r.entry.label},
                   {"predicted", r.entry.predicted},
                   {"p_label", r.entry.p_label},
                   {"loss", r.entry.loss},
                   {"side", r.entry.valid ? "valid" : "train"},
                   {"same_content", r.entry.hash == at.identity->hash}});
    std::printf("%s\n", dump_json_safe(j, 2).c_str());
    return 0;
  }
  std::printf("%s across %zu run(s):\n", at.identity->image.c_str(), rows.size());
  for (const auto& r : rows)
    std::printf("  run %-5lld v%-4lld %-6s label %-14s predicted %-14s p(label) %.3f loss %.3f%s\n",
                (long long)r.run_id, (long long)r.dataset_version, r.entry.valid ? "valid" : "train",
                class_name(src.class_names, r.entry.label).c_str(),
                class_name(src.class_names, r.entry.predicted).c_str(), r.entry.p_label, r.entry.loss,
                r.entry.hash == at.identity->hash ? "" : "  (different content)");
  return 0;
}

// On demand: scores a recorded run's saved model over its data (its split,
// its dataset version) and replaces the run's ledger.
int ledger(const Args& a) {
  const auto run_id = a.get_int("run");
  if (!run_id) throw UsageError("data ledger needs --run ID");
  const std::string db = required_database(a);
  RecordedRun rr = open_recorded_run(db, *run_id);
  ExperimentStore st(db);
  std::shared_ptr<const SourceIdentities> ids = rr.data->ids;
  if (!ids) ids = std::make_shared<SourceIdentities>(identify(rr.data->source));
  const auto entries = score_images(*rr.model, rr.data->tv, *ids);
  write_ledger(st, *run_id, rr.data->dataset_key, rr.data->dataset_version, rr.model_path, entries);
  std::printf("run %lld: ledger of %zu images written (model %s)\n", (long long)*run_id, entries.size(),
              rr.model_path.c_str());
  return 0;
}

int score_oof(const std::vector<std::string>& args) {
  auto specs = train_option_specs(TrainOptionSet::Train);
  specs.push_back({"folds", true});
  Args a(args, specs);
  if (a.positional().size() != 1) throw UsageError("data score-oof takes --data DATASET, not arguments");
  if (!a.has("data")) throw UsageError("data score-oof needs --data DATASET[@VERSION]");
  TrainConfig c = config_from_args(a);
  c.db_path = required_database(a);
  OutOfFoldOptions o;
  o.folds = int(a.get_int("folds").value_or(5));
  o.progress = [](int done, int total) { std::fprintf(stderr, "fold %d/%d scored\n", done, total); };
  const int64_t id = score_out_of_fold(c, o);
  std::printf(
      "out-of-fold scores of %s recorded as run %lld; rank them with\n"
      "  perceptra-cli data suspects --run %lld\n",
      c.data.c_str(), (long long)id, (long long)id);
  return 0;
}

int body(const std::vector<std::string>& args) {
  const std::string sub = args.at(0);
  if (sub == "score-oof") {
    try {
      return score_oof(args);
    } catch (const InputError& e) {
      std::fprintf(stderr, "perceptra-cli data score-oof: %s\n", e.what());
      return 1;
    } catch (const StoreError& e) {
      std::fprintf(stderr, "perceptra-cli data score-oof: %s\n", e.what());
      return 1;
    }
  }
  Args a(args, {{"json", false},
                {"db"},
                {"run"},
                {"top"},
                {"only", false},
                {"valid-pct"},
                {"seed"},
                {"max-distance"},
                {"reason"},
                {"version"},
                {"out"}});
  try {
    if (sub == "suspects") return suspects(a);
    if (sub == "duplicates") return duplicates(a);
    if (sub == "relabel" || sub == "exclude" || sub == "restore") return change(a, sub);
    if (sub == "versions") return versions(a);
    if (sub == "export") return export_cmd(a);
    if (sub == "history") return history(a);
    if (sub == "ledger") return ledger(a);
  } catch (const InputError& e) {
    std::fprintf(stderr, "perceptra-cli data %s: %s\n", sub.c_str(), e.what());
    return 1;
  } catch (const StoreError& e) {
    std::fprintf(stderr, "perceptra-cli data %s: %s\n", sub.c_str(), e.what());
    return 1;
  }
  throw UsageError("unknown data command '" + sub + "'");
}

}  // namespace

bool is_curate_command(const std::string& sub) {
  for (const char* s : {"suspects", "duplicates", "relabel", "exclude", "restore", "versions", "export", "history",
                        "ledger", "score-oof"})
    if (sub == s) return true;
  return false;
}

int run_curate_command(const std::vector<std::string>& args) { return run_command("data", kUsage, args, &body); }

const char* curate_usage() { return kUsage; }

}  // namespace perceptra::cli
