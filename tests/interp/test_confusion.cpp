#include <gtest/gtest.h>

#include <stdexcept>

#include "core/interp/confusion.h"

using namespace perceptra;

// 3 classes; counts chosen so precision/recall differ per class.
//            pred 0  1  2
// true 0:       5  1  0
// true 1:       2  3  1
// true 2:       0  0  0   (no items: recall undefined -> 0)
static Confusion sample() {
  Confusion c(3);
  c.add(0, 0, 5);
  c.add(0, 1);
  c.add(1, 0, 2);
  c.add(1, 1, 3);
  c.add(1, 2);
  return c;
}

TEST(Confusion, CountsAndTotals) {
  Confusion c = sample();
  EXPECT_EQ(c.at(0, 0), 5);
  EXPECT_EQ(c.at(1, 2), 1);
  EXPECT_EQ(c.total(), 12);
  EXPECT_EQ(c.row_total(1), 6);
  EXPECT_EQ(c.column_total(0), 7);
  EXPECT_EQ(c.column_total(2), 1);
  EXPECT_DOUBLE_EQ(c.accuracy(), 8.0 / 12.0);
  EXPECT_THROW(c.add(3, 0), std::out_of_range);
  EXPECT_THROW(c.at(0, -1), std::out_of_range);
}

TEST(Confusion, RowNormalisedLeavesEmptyRowsZero) {
  std::vector<double> n = sample().row_normalized();
  ASSERT_EQ(n.size(), 9u);
  EXPECT_DOUBLE_EQ(n[0], 5.0 / 6);
  EXPECT_DOUBLE_EQ(n[1], 1.0 / 6);
  EXPECT_DOUBLE_EQ(n[3], 2.0 / 6);
  EXPECT_DOUBLE_EQ(n[5], 1.0 / 6);
  for (int j = 6; j < 9; ++j) EXPECT_EQ(n[j], 0.0);
}

TEST(Confusion, PerClassMetricsMatchScikitLearn) {
  // sklearn.metrics.precision_recall_fscore_support(zero_division=0) on the same data.
  Confusion c = sample();
  ClassMetrics m0 = c.metrics(0), m1 = c.metrics(1), m2 = c.metrics(2);
  EXPECT_DOUBLE_EQ(m0.precision, 5.0 / 7);
  EXPECT_DOUBLE_EQ(m0.recall, 5.0 / 6);
  EXPECT_NEAR(m0.f1, 2 * (5.0 / 7) * (5.0 / 6) / (5.0 / 7 + 5.0 / 6), 1e-12);
  EXPECT_DOUBLE_EQ(m1.precision, 3.0 / 4);
  EXPECT_DOUBLE_EQ(m1.recall, 3.0 / 6);
  EXPECT_NEAR(m1.f1, 0.6, 1e-12);
  EXPECT_EQ(m2.precision, 0.0);  // predicted once, never right
  EXPECT_EQ(m2.recall, 0.0);     // no true items: 0/0 -> 0
  EXPECT_EQ(m2.f1, 0.0);
  EXPECT_EQ(m0.support, 6);
  ClassMetrics macro = c.macro();
  EXPECT_NEAR(macro.precision, (5.0 / 7 + 0.75 + 0) / 3, 1e-12);
  EXPECT_NEAR(macro.recall, (5.0 / 6 + 0.5) / 3, 1e-12);
  EXPECT_NEAR(macro.f1, (m0.f1 + m1.f1) / 3, 1e-12);
  EXPECT_EQ(macro.support, 12);
}

TEST(Confusion, AddAllMergeClear) {
  Confusion a(2), b(2);
  a.add_all({0, 1, 1}, {0, 0, 1});
  b.add_all({1}, {0});
  a.merge(b);
  EXPECT_EQ(a.at(1, 0), 2);
  EXPECT_EQ(a.total(), 4);
  EXPECT_THROW(a.add_all({0}, {0, 1}), std::invalid_argument);
  EXPECT_THROW(a.merge(Confusion(3)), std::invalid_argument);
  a.clear();
  EXPECT_EQ(a.total(), 0);
  EXPECT_EQ(a.accuracy(), 0.0);
  EXPECT_EQ(Confusion(0).macro().f1, 0.0);
}
