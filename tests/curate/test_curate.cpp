// core/curate: ledger blobs (and hostile ones), dataset versions applied as
// curated views (labels, exclusions, stable splits, changed files), the
// training data of DATASET@VERSION as the loader sees it, suspects ranking
// and near-duplicate detection on planted data.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>

#include "core/curate/dataset_versions.h"
#include "core/curate/duplicates.h"
#include "core/curate/image_identity.h"
#include "core/curate/ledger.h"
#include "core/curate/suspects.h"
#include "core/data/curated_dataset.h"
#include "core/data/loader.h"
#include "core/data/memory_dataset.h"
#include "core/data/split.h"
#include "core/tensor/error.h"
#include "core/train/out_of_fold.h"
#include "core/train/setup.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using namespace perceptra;

namespace {

// n random 8x8 grey images, labels i % classes.
std::shared_ptr<MemoryDataset> random_images(int n, int classes, uint32_t seed, const std::string& name) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> px(size_t(n) * 64);
  for (auto& p : px) p = uint8_t(rng() % 256);
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) labels[size_t(i)] = i % classes;
  std::vector<std::string> names;
  for (int c = 0; c < classes; ++c) names.push_back("c" + std::to_string(c));
  return std::make_shared<MemoryDataset>(name, Shape{1, 8, 8}, names, std::move(px), std::move(labels));
}

DataSource source_of(std::shared_ptr<const Dataset> train, std::shared_ptr<const Dataset> test,
                     const std::string& location) {
  DataSource s;
  s.name = location;
  s.format = "idx";
  s.location = location;
  s.train = train;
  s.test = test;
  s.class_names = train->class_names();
  return s;
}

}  // namespace

TEST(CurateLedger, RoundTripsAndRefusesMalformedBlobs) {
  std::vector<LedgerEntry> in = {{"cat/1.png", 0x1234, false, 0, 1, 0.1f, 0.9f, 2.3f},
                                 {"test:7", ~uint64_t(0), true, 3, 3, 0.8f, 0.8f, 0.22f},
                                 {"", 5, false, 1, 0, 0.5f, 0.5f, 0.69f}};
  const std::string blob = encode_ledger(in);
  const auto out = decode_ledger(blob, "t");
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].image, in[i].image);
    EXPECT_EQ(out[i].hash, in[i].hash);
    EXPECT_EQ(out[i].valid, in[i].valid);
    EXPECT_EQ(out[i].label, in[i].label);
    EXPECT_EQ(out[i].predicted, in[i].predicted);
    EXPECT_FLOAT_EQ(out[i].p_label, in[i].p_label);
    EXPECT_FLOAT_EQ(out[i].p_predicted, in[i].p_predicted);
    EXPECT_FLOAT_EQ(out[i].loss, in[i].loss);
  }
  EXPECT_TRUE(decode_ledger(encode_ledger({}), "t").empty());
  EXPECT_THROW(decode_ledger("", "t"), InputError);
  EXPECT_THROW(decode_ledger("XXXX" + blob.substr(4), "t"), InputError);
  EXPECT_THROW(decode_ledger(blob.substr(0, blob.size() - 3), "t"), InputError);  // names cut
  EXPECT_THROW(decode_ledger(blob.substr(0, 40), "t"), InputError);               // records cut
  std::string huge = blob;
  for (int i = 8; i < 16; ++i) huge[size_t(i)] = char(0xff);  // claims 2^64-1 images
  EXPECT_THROW(decode_ledger(huge, "t"), InputError);
  std::string bad_offset = blob;
  bad_offset[16 + 8 + 3] = char(0x7f);  // record 0's name offset far outside
  try {
    decode_ledger(bad_offset, "db: ledger of run 4");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("ledger of run 4"), std::string::npos);
  }
}

TEST(CurateVersions, ChangesBuildVersionsAppliedAsViewsWithStableSplits) {
  auto dir = test::make_temp_dir("curate-versions");
  ExperimentStore st(dir + "/p.db");
  auto train = random_images(40, 2, 1, "train");
  DataSource src = source_of(train, nullptr, dir + "/data");
  const SourceIdentities ids = identify(src);
  ASSERT_EQ(ids.train.size(), 40u);
  EXPECT_EQ(ids.train[3].image, "3");
  EXPECT_EQ(parse_class(src, "c1"), 1);
  EXPECT_EQ(parse_class(src, "1"), 1);
  EXPECT_THROW(parse_class(src, "dog"), InputError);

  const std::string key = dataset_key(src);
  EXPECT_EQ(commit_changes(st, src, ids, {{"2", "relabel", 1}, {"5", "exclude", -1}}, "me", "why"), 1);
  EXPECT_EQ(commit_changes(st, src, ids, {{"8", "exclude", -1}}, "me", ""), 2);
  EXPECT_EQ(commit_changes(st, src, ids, {{"8", "restore", -1}}, "me", ""), 3);
  // Changes that change nothing, unknown images and classes are refused.
  EXPECT_THROW(commit_changes(st, src, ids, {{"2", "relabel", 1}}, "me", ""), InputError);
  EXPECT_THROW(commit_changes(st, src, ids, {{"5", "exclude", -1}}, "me", ""), InputError);
  EXPECT_THROW(commit_changes(st, src, ids, {{"9", "restore", -1}}, "me", ""), InputError);
  EXPECT_THROW(commit_changes(st, src, ids, {{"99", "exclude", -1}}, "me", ""), InputError);
  EXPECT_THROW(commit_changes(st, src, ids, {{"4", "relabel", 7}}, "me", ""), InputError);
  EXPECT_THROW(commit_changes(st, src, ids, {{"4", "exclude", -1}, {"4", "exclude", -1}}, "me", ""), InputError);
  EXPECT_EQ(st.latest_dataset_version(key), 3);

  EXPECT_TRUE(version_state(st, key, 0).empty());
  const VersionState v2 = version_state(st, key, 2);
  EXPECT_EQ(v2.size(), 3u);
  EXPECT_TRUE(v2.at("8").excluded);
  const VersionState v3 = version_state(st, key, 3);
  ASSERT_EQ(v3.size(), 2u);
  EXPECT_EQ(v3.at("2").label, 1);
  EXPECT_TRUE(v3.at("5").excluded);
  EXPECT_THROW(version_state(st, key, 4), InputError);

  const DataSource cur = apply_version(src, ids, v3);
  EXPECT_TRUE(cur.warnings.empty());
  ASSERT_EQ(cur.train->size(), 39);
  auto* view = dynamic_cast<const CuratedDataset*>(cur.train.get());
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->view_index(5), -1);
  EXPECT_EQ(train->label(2), 0);  // the original is untouched
  EXPECT_EQ(cur.train->label(view->view_index(2)), 1);
  EXPECT_EQ(cur.train->label(view->view_index(3)), train->label(3));
  // Every image keeps its side of the split in the version.
  SplitOptions so;
  so.valid_pct = 0.25;
  so.seed = 3;
  const Split base = make_split(*train, so), curated = make_split(*cur.train, so);
  std::set<int64_t> base_valid(base.valid.begin(), base.valid.end());
  for (int64_t v : curated.valid) EXPECT_TRUE(base_valid.count(view->base_index(v)));
  for (int64_t t : curated.train) EXPECT_FALSE(base_valid.count(view->base_index(t)));
  EXPECT_EQ(curated.train.size() + curated.valid.size(), 39u);
  fs::remove_all(dir);
}

TEST(CurateVersions, ChangesOfReplacedOrRemovedImagesAreNotApplied) {
  auto train = random_images(10, 2, 2, "train");
  DataSource src = source_of(train, nullptr, "/nowhere");
  SourceIdentities ids = identify(src);
  VersionState state;
  state["1"] = {1, false, hash_hex(ids.train[1].hash)};
  state["2"] = {-1, true, hash_hex(ids.train[2].hash ^ 1)};  // the image changed since
  state["77"] = {-1, true, "00"};                            // gone
  const DataSource cur = apply_version(src, ids, state);
  EXPECT_EQ(cur.train->size(), 10);
  EXPECT_EQ(cur.train->label(1), 1);
  ASSERT_EQ(cur.warnings.size(), 2u);
  EXPECT_NE(cur.warnings[0].find("2: changed on disk"), std::string::npos) << cur.warnings[0];
  EXPECT_NE(cur.warnings[1].find("77: no longer"), std::string::npos) << cur.warnings[1];
}

// `train --data DIR@V`: prepare_data applies the version, the loader's
// batches carry the new labels and lack the excluded image, and the files
// are not touched.
TEST(CurateVersions, TrainingDataOfAVersionHasItsLabels) {
  auto dir = test::make_temp_dir("curate-prepare");
  const std::string data = test::make_tiny_dataset(dir + "/tiny", 3, 10);
  const std::string db = dir + "/p.db";
  DataSource src = open_dataset(data);
  const SourceIdentities ids = identify(src);
  const std::string moved = "class_a/img_4.pgm", dropped = "class_b/img_2.pgm";
  const ImageLocation m = locate_image(src, ids, moved), d = locate_image(src, ids, dropped);
  EXPECT_EQ(ids.train[size_t(m.index)].image, moved);
  EXPECT_EQ(image_file_path(src, false, m.index), data + "/" + moved);
  const auto before = fs::last_write_time(data + "/" + moved);
  {
    ExperimentStore st(db);
    commit_changes(st, src, ids, {{moved, "relabel", 2}}, "me", "");
    commit_changes(st, src, ids, {{dropped, "exclude", -1}}, "me", "");
  }
  for (const std::string& ref : {data + "@2", data + "@latest"}) {
    TrainConfig c;
    c.data = ref;
    c.db_path = db;
    c.valid_pct = 20;
    const PreparedData p = prepare_data(c);
    EXPECT_EQ(p.dataset_version, 2);
    EXPECT_EQ(p.dataset_key, dataset_key(src));
    ASSERT_TRUE(p.ids);
    EXPECT_EQ(p.source.train->size(), 29);
    // Every sample the loaders see, with its label.
    std::map<int64_t, int> seen;  // base index -> label
    for (auto [data_set, idx] :
         {std::pair{p.tv.train_data, p.tv.train_indices}, std::pair{p.tv.valid_data, p.tv.valid_indices}}) {
      LoaderOptions lo;
      lo.batch_size = 7;
      lo.shuffle = false;
      lo.prefetch = 0;
      DataLoader loader(data_set, idx, lo);
      Batch b;
      while (loader.next(b))
        for (size_t k = 0; k < b.indices.size(); ++k)
          seen[uncurated_index(*data_set, b.indices[k])] = int(b.labels.to_vector()[k]);
    }
    EXPECT_EQ(seen.size(), 29u);
    EXPECT_EQ(seen.at(m.index), 2);
    EXPECT_FALSE(seen.count(d.index));
  }
  // The plain name is the files as they are.
  TrainConfig plain;
  plain.data = data;
  plain.db_path = db;
  plain.valid_pct = 20;
  EXPECT_EQ(prepare_data(plain).source.train->size(), 30);
  TrainConfig missing = plain;
  missing.data = data + "@5";
  EXPECT_THROW(prepare_data(missing), InputError);
  missing.db_path = "-";
  missing.data = data + "@1";
  EXPECT_THROW(prepare_data(missing), InputError);
  EXPECT_EQ(fs::last_write_time(data + "/" + moved), before);
  fs::remove_all(dir);
}

TEST(CurateOutOfFold, FoldsPartitionTheImagesEvenlyAndReproducibly) {
  const auto f = assign_folds(103, 5, 7);
  ASSERT_EQ(f.size(), 103u);
  std::vector<int> count(5, 0);
  for (int k : f) {
    ASSERT_GE(k, 0);
    ASSERT_LT(k, 5);
    ++count[size_t(k)];
  }
  for (int c : count) EXPECT_TRUE(c == 20 || c == 21) << c;
  EXPECT_EQ(assign_folds(103, 5, 7), f);
  EXPECT_NE(assign_folds(103, 5, 8), f);
}

TEST(CurateSuspects, RankByConfidentWrongnessAndAgreementAcrossRuns) {
  auto entry = [](std::string img, int label, int pred, float p) {
    LedgerEntry e;
    e.image = std::move(img);
    e.hash = 1;
    e.label = label;
    e.predicted = pred;
    e.p_label = p;
    e.p_predicted = label == pred ? p : 1 - p;
    return e;
  };
  std::vector<LedgerEntry> run1 = {entry("a", 0, 1, 0.05f), entry("b", 0, 1, 0.10f), entry("c", 1, 1, 0.90f),
                                   entry("d", 1, 0, 0.40f)};
  // Run 2 agrees on b (strongly), disagrees on a; holds c with another label
  // (a later version) which is not evidence about this label.
  std::vector<LedgerEntry> run2 = {entry("a", 0, 0, 0.95f), entry("b", 0, 1, 0.02f), entry("c", 0, 1, 0.01f),
                                   entry("d", 1, 2, 0.30f)};
  auto only1 = rank_suspects({1, &run1}, {});
  ASSERT_EQ(only1.size(), 3u);
  EXPECT_EQ(only1[0].image, "a");  // most confidently wrong in run 1
  EXPECT_EQ(only1[1].image, "b");
  EXPECT_EQ(only1[2].image, "d");
  auto both = rank_suspects({1, &run1}, {{2, &run2}});
  ASSERT_EQ(both.size(), 3u);
  EXPECT_EQ(both[0].image, "b");  // wrong in 2 of 2 runs
  EXPECT_EQ(both[0].runs, 2);
  EXPECT_EQ(both[0].runs_wrong, 2);
  EXPECT_EQ(both[0].run_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(both[1].image, "d");
  EXPECT_EQ(both[2].image, "a");  // right in run 2: 1 of 2
  EXPECT_EQ(both[2].runs_wrong, 1);
  EXPECT_EQ(rank_suspects({1, &run1}, {{2, &run2}}, 1).size(), 1u);
}

TEST(CurateDuplicates, FindsEveryPlantedDuplicateAndNothingElse) {
  // 300 random 8x8 images in 3 classes, plus planted copies in a test set:
  // exact and near (noise + brightness) within a class, across classes, and
  // across the split.
  const int n = 300;
  std::mt19937 rng(5);
  std::vector<uint8_t> px(size_t(n) * 256);
  for (int i = 0; i < n; ++i) {
    // Smooth random images (like photos), 16x16: a few blobs.
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x) px[size_t(i) * 256 + y * 16 + x] = uint8_t(rng() % 40);
    for (int b = 0; b < 3; ++b) {
      int cx = int(rng() % 16), cy = int(rng() % 16), r = 2 + int(rng() % 4), v = 100 + int(rng() % 150);
      for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x)
          if ((x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r) px[size_t(i) * 256 + y * 16 + x] = uint8_t(v);
    }
  }
  auto copy_of = [&](int i, int noise, int bright) {
    std::vector<uint8_t> out(256);
    for (int k = 0; k < 256; ++k) {
      int v = px[size_t(i) * 256 + k] + bright + (noise ? int(rng() % (2 * noise + 1)) - noise : 0);
      out[size_t(k)] = uint8_t(std::clamp(v, 0, 255));
    }
    return out;
  };
  std::vector<uint8_t> train_px = px;
  std::vector<int32_t> train_labels(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) train_labels[size_t(i)] = i % 3;
  // In the training set: 300 = exact copy of 10 (same class), 301 = near copy
  // of 20 (same class), 302 = exact copy of 30 labelled another class.
  for (auto [src, noise, bright, label] :
       {std::tuple{10, 0, 0, 10 % 3}, std::tuple{20, 3, 12, 20 % 3}, std::tuple{30, 0, 0, (30 + 1) % 3}}) {
    auto c = copy_of(src, noise, bright);
    train_px.insert(train_px.end(), c.begin(), c.end());
    train_labels.push_back(label);
  }
  // Test set: 2 random images, an exact copy of 40 and a near copy of 50.
  std::vector<uint8_t> test_px(px.begin() + 298 * 256, px.end());  // copies of 298, 299 ...
  for (auto& v : test_px) v = uint8_t(255 - v);                    // ... made unlike them
  for (auto [src, noise, bright] : {std::tuple{40, 0, 0}, std::tuple{50, 4, -10}}) {
    auto c = copy_of(src, noise, bright);
    test_px.insert(test_px.end(), c.begin(), c.end());
  }
  std::vector<int32_t> test_labels = {0, 1, 40 % 3, 50 % 3};
  std::vector<std::string> names = {"c0", "c1", "c2"};
  auto train = std::make_shared<MemoryDataset>("t", Shape{1, 16, 16}, names, train_px, train_labels);
  auto test = std::make_shared<MemoryDataset>("v", Shape{1, 16, 16}, names, test_px, test_labels);
  DataSource src = source_of(train, test, "/mem");
  const auto ids = identify(src);
  const DuplicateReport r = find_duplicates(src, ids, Split{});
  EXPECT_EQ(r.images, n + 3 + 4);
  auto group_of = [&](const std::string& img) -> const DuplicateGroup* {
    for (const auto& g : r.groups)
      for (const auto& m : g.members)
        if (m.image == img) return &g;
    return nullptr;
  };
  auto same_group = [&](const std::string& a, const std::string& b) {
    const DuplicateGroup* g = group_of(a);
    return g && g == group_of(b);
  };
  ASSERT_TRUE(same_group("10", "300"));
  EXPECT_TRUE(group_of("10")->exact);
  EXPECT_FALSE(group_of("10")->cross_class);
  EXPECT_FALSE(group_of("10")->leak);
  ASSERT_TRUE(same_group("20", "301"));
  EXPECT_FALSE(group_of("20")->exact);
  EXPECT_FALSE(group_of("20")->cross_class);
  ASSERT_TRUE(same_group("30", "302"));
  EXPECT_TRUE(group_of("30")->cross_class);
  ASSERT_TRUE(same_group("40", "test:2"));
  EXPECT_TRUE(group_of("40")->leak);
  EXPECT_TRUE(group_of("40")->exact);
  ASSERT_TRUE(same_group("50", "test:3"));
  EXPECT_TRUE(group_of("50")->leak);
  EXPECT_FALSE(group_of("50")->exact);
  EXPECT_EQ(r.groups.size(), 5u);  // nothing else
  for (const auto& g : r.groups) EXPECT_EQ(g.members.size(), 2u);
  // Leaks are listed first.
  EXPECT_TRUE(r.groups[0].leak);
  EXPECT_TRUE(r.groups[1].leak);
}

TEST(CurateDuplicates, PerceptualHashIgnoresBrightnessAndSmallNoise) {
  std::vector<float> a(3 * 20 * 20), b(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = float((i * 37) % 101) / 200.0f + ((i / 20) % 20 > 10 ? 0.3f : 0.0f);
    b[i] = a[i] + 0.05f + ((i * 13) % 7 == 0 ? 0.01f : 0.0f);
  }
  const uint64_t ha = perceptual_hash(a.data(), 3, 20, 20), hb = perceptual_hash(b.data(), 3, 20, 20);
  EXPECT_LE(__builtin_popcountll(ha ^ hb), 4);
}
