#include "core/interp/confusion.h"

#include <stdexcept>
#include <string>

namespace perceptra {

Confusion::Confusion(int classes) : classes_(classes) {
  if (classes < 0) throw std::invalid_argument("Confusion: negative class count");
  counts_.assign(static_cast<size_t>(classes) * static_cast<size_t>(classes), 0);
}

void Confusion::check(int c, const char* what) const {
  if (c < 0 || c >= classes_)
    throw std::out_of_range(std::string("Confusion: ") + what + " class " + std::to_string(c) + " is outside [0, " +
                            std::to_string(classes_) + ")");
}

void Confusion::add(int actual, int predicted, int64_t count) {
  check(actual, "true");
  check(predicted, "predicted");
  counts_[static_cast<size_t>(actual) * classes_ + predicted] += count;
}

void Confusion::add_all(const std::vector<int>& actual, const std::vector<int>& predicted) {
  if (actual.size() != predicted.size())
    throw std::invalid_argument("Confusion::add_all: " + std::to_string(actual.size()) + " labels but " +
                                std::to_string(predicted.size()) + " predictions");
  for (size_t i = 0; i < actual.size(); ++i) add(actual[i], predicted[i]);
}

void Confusion::merge(const Confusion& other) {
  if (other.classes_ != classes_)
    throw std::invalid_argument("Confusion::merge: " + std::to_string(other.classes_) + " classes into " +
                                std::to_string(classes_));
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

void Confusion::clear() { counts_.assign(counts_.size(), 0); }

int64_t Confusion::at(int actual, int predicted) const {
  check(actual, "true");
  check(predicted, "predicted");
  return counts_[static_cast<size_t>(actual) * classes_ + predicted];
}

int64_t Confusion::total() const {
  int64_t t = 0;
  for (int64_t v : counts_) t += v;
  return t;
}

int64_t Confusion::row_total(int actual) const {
  check(actual, "true");
  int64_t t = 0;
  for (int j = 0; j < classes_; ++j) t += counts_[static_cast<size_t>(actual) * classes_ + j];
  return t;
}

int64_t Confusion::column_total(int predicted) const {
  check(predicted, "predicted");
  int64_t t = 0;
  for (int i = 0; i < classes_; ++i) t += counts_[static_cast<size_t>(i) * classes_ + predicted];
  return t;
}

double Confusion::accuracy() const {
  int64_t t = total(), correct = 0;
  for (int c = 0; c < classes_; ++c) correct += counts_[static_cast<size_t>(c) * classes_ + c];
  return t > 0 ? static_cast<double>(correct) / static_cast<double>(t) : 0.0;
}

std::vector<double> Confusion::row_normalized() const {
  std::vector<double> out(counts_.size(), 0.0);
  for (int i = 0; i < classes_; ++i) {
    int64_t t = row_total(i);
    if (t == 0) continue;
    for (int j = 0; j < classes_; ++j) {
      size_t k = static_cast<size_t>(i) * classes_ + j;
      out[k] = static_cast<double>(counts_[k]) / static_cast<double>(t);
    }
  }
  return out;
}

static double ratio(int64_t a, int64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

ClassMetrics Confusion::metrics(int c) const {
  ClassMetrics m;
  int64_t tp = at(c, c);
  m.support = row_total(c);
  m.precision = ratio(tp, column_total(c));
  m.recall = ratio(tp, m.support);
  m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
  return m;
}

std::vector<ClassMetrics> Confusion::per_class() const {
  std::vector<ClassMetrics> out;
  out.reserve(static_cast<size_t>(classes_));
  for (int c = 0; c < classes_; ++c) out.push_back(metrics(c));
  return out;
}

ClassMetrics Confusion::macro() const {
  ClassMetrics m;
  if (classes_ == 0) return m;
  for (const ClassMetrics& c : per_class()) {
    m.precision += c.precision;
    m.recall += c.recall;
    m.f1 += c.f1;
    m.support += c.support;
  }
  m.precision /= classes_;
  m.recall /= classes_;
  m.f1 /= classes_;
  return m;
}

}  // namespace perceptra
