// Fixing the data from Inspect, offscreen: on a generated folder, select
// images and relabel them with a number key, exclude one with Delete, undo
// with Ctrl+Z, exclude another from the right-click menu. The versions
// written are the same as `perceptra-cli data relabel / exclude / restore /
// exclude` write; marks survive switching lists; the image's path and its
// history across runs are shown; "Retrain on this version" names it; the
// files are byte-identical afterwards.
#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QLabel>
#include <QListView>
#include <QMenu>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTest>
#include <QTreeWidget>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "app/studio/curate_session.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/runs_panel.h"
#include "core/curate/ledger.h"
#include "core/nn/model.h"
#include "core/store/store.h"
#include "core/tensor/random.h"
#include "core/train/setup.h"
#include "tests/curate/cli_runner.h"
#include "tests/curate/planted_data.h"
#include "tests/train/tiny_data.h"
#include "widgets/image_grid.h"

namespace fs = std::filesystem;
using namespace perceptra;
using namespace perceptra::studio;

namespace {

bool waitFor(const std::function<bool()>& cond, int ms) { return QTest::qWaitFor(cond, ms); }

struct Change {
  std::string image, action;
  int label;
  bool operator==(const Change&) const = default;
};

std::vector<std::vector<Change>> versions(const std::string& db, const std::string& key) {
  ExperimentStore st(db);
  std::vector<std::vector<Change>> out;
  for (const auto& v : st.dataset_versions(key, true)) {
    out.emplace_back();
    for (const auto& c : v.changes) out.back().push_back({c.image, c.action, c.label});
  }
  return out;
}

std::map<std::string, std::string> snapshot_files(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[e.path().string()] = test::slurp(e.path().string());
  return out;
}

}  // namespace

TEST(CurateGui, RelabelExcludeUndoFromInspectMatchTheCli) {
  const std::string dir = test::make_temp_dir("curate-gui");
  const auto planted = test::make_planted_folder(dir + "/planted", 12, 6);
  const auto before = snapshot_files(planted.root);
  const std::string db = dir + "/gui.db", cliDb = dir + "/cli.db";
  TrainConfig c;
  c.data = planted.root;
  c.db_path = db;
  auto data = std::make_shared<const PreparedData>(prepare_data(c));
  // An untrained model: plenty of mistakes to list.
  Rng rng(1);
  std::shared_ptr<Model> model =
      Model::from_spec(Model::builtin_spec("mlp", data->source.train->sample_shape(), 4), rng);
  // A ledger of a finished run, for the history panel.
  {
    ExperimentStore st(db);
    const int64_t run = st.create_run(NewRun{});
    st.finish_run(run, RunStatus::Finished);
    write_ledger(st, run, data->dataset_key, 0, "final", score_images(*model, data->tv, identify(data->source)));
  }

  InspectPanel p;
  p.resize(900, 800);
  p.show();
  p.setDatabasePath(QString::fromStdString(db));
  QSignalSpy ready(&p, &InspectPanel::predictionsReady);
  p.inspect(model, data, QStringLiteral("untrained"));
  ASSERT_TRUE(waitFor([&] { return !ready.isEmpty() && p.curation()->ready(); }, 30000));
  ASSERT_TRUE(waitFor([&] { return !p.entries().empty() && !p.entries()[0].image.empty(); }, 5000));
  ASSERT_GE(p.entries().size(), 3u);
  auto* view = p.grid()->view();
  view->setFocus();

  // Two images relabelled with a number key: a class neither has.
  const InspectEntry a = p.entries()[0], b = p.entries()[1], e = p.entries()[2];
  int cls = 0;
  while (cls == a.label || cls == b.label) ++cls;
  p.selectRows({0, 1});
  QTest::keyClick(view, Qt::Key(Qt::Key_1 + cls));
  EXPECT_EQ(p.curation()->latestVersion(), 1) << p.findChild<QLabel*>("curationNotice")->text().toStdString();
  // Delete excludes, Ctrl+Z undoes it (a third version restoring the image).
  p.selectRows({2});
  QTest::keyClick(view, Qt::Key_Delete);
  EXPECT_EQ(p.curation()->latestVersion(), 2);
  ASSERT_NE(p.curation()->overrideOf(e.image), nullptr);
  QTest::keyClick(view, Qt::Key_Z, Qt::ControlModifier);
  EXPECT_EQ(p.curation()->latestVersion(), 3);
  EXPECT_EQ(p.curation()->overrideOf(e.image), nullptr);
  // The right-click menu: the image's file, and Exclude.
  const int row = int(p.entries().size()) - 1;
  const InspectEntry last = p.entries()[size_t(row)];
  std::unique_ptr<QMenu> menu(p.contextMenu(row));
  ASSERT_TRUE(menu);
  EXPECT_EQ(menu->actions().first()->text().toStdString(), planted.root + "/" + last.image);
  for (const char* name : {"openImage", "copyPath", "revealImage", "useAsProbeAction", "relabelMenu", "excludeImages",
                           "restoreImages", "undoCuration"})
    EXPECT_TRUE(menu->findChild<QAction*>(name) || menu->findChild<QMenu*>(name)) << name;
  menu->findChild<QAction*>("copyPath")->trigger();
  EXPECT_EQ(QApplication::clipboard()->text().toStdString(), planted.root + "/" + last.image);
  menu->findChild<QAction*>("excludeImages")->trigger();
  EXPECT_EQ(p.curation()->latestVersion(), 4);

  // The same through the CLI, on another database: the same versions.
  std::vector<std::string> relabel = {"data", "relabel", planted.root, a.image, b.image, planted.classes[size_t(cls)],
                                      "--db", cliDb};
  for (const auto& args :
       std::vector<std::vector<std::string>>{relabel,
                                             {"data", "exclude", planted.root, e.image, "--db", cliDb},
                                             {"data", "restore", planted.root, e.image, "--db", cliDb},
                                             {"data", "exclude", planted.root, last.image, "--db", cliDb}}) {
    auto r = test::cli(args, dir);
    ASSERT_EQ(r.code, 0) << r.err;
  }
  auto gui = versions(db, data->dataset_key), cli = versions(cliDb, data->dataset_key);
  ASSERT_EQ(gui.size(), 4u);
  for (auto* v : {&gui, &cli})  // a batch's order is the selection's; compare as sets
    for (auto& changes : *v)
      std::sort(changes.begin(), changes.end(), [](auto& x, auto& y) { return x.image < y.image; });
  EXPECT_TRUE(gui == cli);

  // Marks follow the images across lists: Suspects (from the ledger), back.
  auto markedCaption = [&](const std::string& image) {
    for (int i = 0; i < p.grid()->count(); ++i)
      if (p.entries()[size_t(i)].image == image) return p.grid()->item(i).caption.toStdString();
    return std::string();
  };
  EXPECT_NE(markedCaption(a.image).find("now " + planted.classes[size_t(cls)]), std::string::npos)
      << markedCaption(a.image);
  QSignalSpy listed(&p, &InspectPanel::listReady);
  p.findChild<QComboBox*>("inspectList")->setCurrentIndex(int(InspectList::Suspects));
  ASSERT_TRUE(waitFor([&] { return !listed.isEmpty(); }, 30000));
  EXPECT_FALSE(p.entries().empty());
  for (const auto& x : p.entries())
    if (x.image == a.image) {
      EXPECT_NE(markedCaption(a.image).find("now"), std::string::npos);
    }
  p.findChild<QComboBox*>("inspectList")->setCurrentIndex(int(InspectList::Duplicates));
  ASSERT_TRUE(waitFor([&] { return listed.size() >= 2; }, 30000));
  std::set<std::string> dups;
  for (const auto& x : p.entries()) dups.insert(x.image);
  for (const auto& d : planted.duplicates) {
    EXPECT_TRUE(dups.count(d.original)) << d.original;
    EXPECT_TRUE(dups.count(d.copy)) << d.copy;
  }
  p.setList(InspectList::TopLosses);
  EXPECT_NE(markedCaption(a.image).find("now " + planted.classes[size_t(cls)]), std::string::npos);
  EXPECT_NE(markedCaption(last.image).find("excluded"), std::string::npos);

  // The selected image: its path in the detail, its history across runs.
  QSignalSpy history(&p, &InspectPanel::historyShown);
  p.selectItem(0);
  ASSERT_TRUE(waitFor([&] { return !history.isEmpty(); }, 10000));
  EXPECT_EQ(p.historyView()->topLevelItemCount(), 1);
  ASSERT_TRUE(waitFor([&] { return p.detailReady(); }, 30000));
  EXPECT_NE(p.findChild<QLabel*>("detailText")->text().toStdString().find(p.entries()[0].image), std::string::npos);

  // Retrain on this version.
  QSignalSpy retrain(&p, &InspectPanel::retrainRequested);
  ASSERT_TRUE(p.retrainButton()->isEnabled());
  p.retrainButton()->click();
  ASSERT_EQ(retrain.size(), 1);
  EXPECT_EQ(retrain[0][0].toString().toStdString(), planted.root + "@4");
  EXPECT_NE(p.versionLabel()->text().indexOf(QStringLiteral("version 4")), -1);

  // With PERCEPTRA_GUI_SHOTS=<dir>, a picture of the panel (no assertion on it).
  if (const QString shots = qEnvironmentVariable("PERCEPTRA_GUI_SHOTS"); !shots.isEmpty()) {
    p.selectRows({0, 1});
    QTest::qWait(200);
    p.grab().save(shots + "/inspect_curation.png");
  }
  EXPECT_TRUE(snapshot_files(planted.root) == before);
  fs::remove_all(dir);
}

// The Runs view says which dataset version each run trained on.
TEST(CurateGui, RunsViewShowsTheDatasetVersion) {
  const std::string dir = test::make_temp_dir("curate-runs");
  const std::string db = dir + "/p.db";
  {
    ExperimentStore st(db);
    NewRun a, b;
    a.hparams = {{"data", "/data/shapes@4"}};
    a.dataset_version = 4;
    b.hparams = {{"data", "/data/shapes"}};
    st.finish_run(st.create_run(a), RunStatus::Finished);
    st.finish_run(st.create_run(b), RunStatus::Finished);
  }
  RunsPanel panel;
  panel.setDatabasePath(db);
  panel.refresh();
  auto* m = panel.table()->model();
  ASSERT_EQ(m->rowCount(), 2);
  int dataColumn = -1;
  for (int c = 0; c < m->columnCount(); ++c)
    if (m->headerData(c, Qt::Horizontal).toString() == QStringLiteral("Dataset")) dataColumn = c;
  ASSERT_GE(dataColumn, 0);
  std::set<QString> cells;
  for (int r = 0; r < 2; ++r) cells.insert(m->index(r, dataColumn).data().toString());
  EXPECT_TRUE(cells.count(QStringLiteral("shapes · v4"))) << cells.begin()->toStdString();
  EXPECT_TRUE(cells.count(QStringLiteral("shapes")));
  fs::remove_all(dir);
}

int main(int argc, char** argv) {
  qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
