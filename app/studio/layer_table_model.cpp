#include "app/studio/layer_table_model.h"

#include "app/studio/qt_convert.h"

#include <algorithm>

#include <QBrush>
#include <QColor>
#include <QFont>
#include <QLocale>
#include <QStringList>

namespace perceptra::studio {

namespace {
// The sizes a reader looks for first; the other arguments follow by name.
int argRank(const std::string& key) {
  static const char* const first[] = {"out_channels", "out_features", "kernel", "stride", "padding"};
  for (int i = 0; i < 5; ++i)
    if (key == first[i]) return i;
  return 5;
}
}  // namespace

LayerTableModel::LayerTableModel(QObject* parent) : QAbstractTableModel(parent) {
  spec_ = {{"name", "custom"}, {"input", {1, 28, 28}}, {"classes", 10}, {"layers", nlohmann::json::array()}};
}

void LayerTableModel::setSpec(const nlohmann::json& spec) {
  beginResetModel();
  spec_ = spec;
  if (!spec_.contains("layers") || !spec_["layers"].is_array()) spec_["layers"] = nlohmann::json::array();
  reanalyze();
  endResetModel();
  emit specChanged();
}

void LayerTableModel::setInput(const Shape& sample, int classes) {
  spec_["input"] = sample.dims();
  spec_["classes"] = classes;
  // The head must match the class count: resize the last linear layer, as
  // fastai does when a model meets a new dataset.
  auto& layers = spec_["layers"];
  for (auto it = layers.rbegin(); it != layers.rend(); ++it)
    if (it->value("type", "") == "linear") {
      (*it)["out_features"] = classes;
      break;
    }
  beginResetModel();
  reanalyze();
  endResetModel();
  emit specChanged();
}

void LayerTableModel::insertLayer(int row, const nlohmann::json& layer) {
  auto& layers = spec_["layers"];
  row = std::clamp(row, 0, static_cast<int>(layers.size()));
  beginResetModel();
  layers.insert(layers.begin() + row, layer);
  reanalyze();
  endResetModel();
  emit specChanged();
}

void LayerTableModel::removeLayer(int row) {
  auto& layers = spec_["layers"];
  if (row < 0 || row >= static_cast<int>(layers.size())) return;
  beginResetModel();
  layers.erase(layers.begin() + row);
  reanalyze();
  endResetModel();
  emit specChanged();
}

void LayerTableModel::moveLayer(int from, int to) {
  auto& layers = spec_["layers"];
  const int n = static_cast<int>(layers.size());
  if (from < 0 || from >= n || to < 0 || to >= n || from == to) return;
  beginResetModel();
  nlohmann::json item = layers[from];
  layers.erase(layers.begin() + from);
  layers.insert(layers.begin() + to, item);
  reanalyze();
  endResetModel();
  emit specChanged();
}

void LayerTableModel::reanalyze() {
  rows_ = Model::analyze(spec_);
  total_params_ = 0;
  first_error_.clear();
  for (auto& r : rows_) {
    total_params_ += r.parameters;
    if (!r.error.empty() && first_error_.isEmpty()) first_error_ = QString::fromStdString(r.error);
  }
}

int LayerTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(spec_["layers"].size());
}

int LayerTableModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant LayerTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid()) return {};
  const int row = index.row();
  const auto& layer = spec_["layers"][row];
  const LayerSummary* s = row < static_cast<int>(rows_.size()) ? &rows_[row] : nullptr;
  const bool bad = s && !s->error.empty();
  if (role == Qt::DisplayRole || role == Qt::EditRole) {
    switch (index.column()) {
      case Index:
        return row;
      case Type:
        return QString::fromStdString(layer.value("type", "?"));
      case Arguments:
        return formatArgs(layer);
      case Output:
        if (bad) return tr("error");
        // Compact (32×28×28): the narrow dock leaves room for the arguments.
        return s && s->output.rank() ? shapeText(s->output).remove(QLatin1Char(' ')) : QString();
      case Params:
        return s ? QLocale().toString(static_cast<qlonglong>(s->parameters)) : QString();
    }
  }
  if (role == Qt::ToolTipRole && bad) return QString::fromStdString(s->error);
  if (role == Qt::ToolTipRole && index.column() == Arguments) {
    const QString args = formatArgs(layer);
    return args.isEmpty() ? QVariant() : QVariant(args);  // the whole text when the column elides it
  }
  if (role == Qt::ForegroundRole && bad) return QBrush(QColor(0xE5, 0x53, 0x4B));
  if (role == Qt::TextAlignmentRole && (index.column() == Params || index.column() == Index))
    return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role == Qt::FontRole && index.column() == Output) {
    QFont f;
    f.setFamily(QStringLiteral("monospace"));
    return f;
  }
  return {};
}

QVariant LayerTableModel::headerData(int section, Qt::Orientation o, int role) const {
  if (o == Qt::Horizontal && role == Qt::ToolTipRole && section == Params) return tr("Trainable parameters");
  if (o != Qt::Horizontal || role != Qt::DisplayRole) return {};
  switch (section) {
    case Index:
      return tr("#");
    case Type:
      return tr("Layer");
    case Arguments:
      return tr("Arguments");
    case Output:
      return tr("Output shape");
    case Params:
      return tr("Params");
  }
  return {};
}

Qt::ItemFlags LayerTableModel::flags(const QModelIndex& index) const {
  auto f = QAbstractTableModel::flags(index);
  if (index.column() == Type || index.column() == Arguments) f |= Qt::ItemIsEditable;
  return f;
}

bool LayerTableModel::setData(const QModelIndex& index, const QVariant& value, int role) {
  if (!index.isValid() || role != Qt::EditRole) return false;
  auto& layer = spec_["layers"][index.row()];
  if (index.column() == Type) {
    layer["type"] = value.toString().trimmed().toStdString();
  } else if (index.column() == Arguments) {
    nlohmann::json args;
    QString error;
    if (!parseArgs(value.toString(), args, &error)) return false;
    nlohmann::json replaced = {{"type", layer.value("type", "")}};
    if (layer.contains("name")) replaced["name"] = layer["name"];
    for (auto& [k, v] : args.items()) replaced[k] = v;
    layer = replaced;
  } else {
    return false;
  }
  beginResetModel();
  reanalyze();
  endResetModel();
  emit specChanged();
  return true;
}

QString LayerTableModel::formatArgs(const nlohmann::json& layer) {
  std::vector<std::pair<std::string, std::string>> args;
  for (auto& [k, v] : layer.items())
    if (k != "type" && k != "name") args.emplace_back(k, v.dump());
  std::stable_sort(args.begin(), args.end(),
                   [](const auto& a, const auto& b) { return argRank(a.first) < argRank(b.first); });
  QStringList parts;
  for (const auto& [k, v] : args) parts << QString::fromStdString(k) + "=" + QString::fromStdString(v);
  return parts.join(QStringLiteral(", "));
}

bool LayerTableModel::parseArgs(const QString& text, nlohmann::json& args, QString* error) {
  args = nlohmann::json::object();
  // Split on commas outside brackets/braces so nested JSON stays whole.
  QStringList parts;
  int depth = 0;
  QString cur;
  for (QChar c : text) {
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') --depth;
    if (c == ',' && depth == 0) {
      parts << cur;
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.trimmed().isEmpty()) parts << cur;
  for (const QString& part : parts) {
    const int eq = part.indexOf('=');
    if (eq <= 0) {
      if (error) *error = QObject::tr("'%1' is not of the form name=value").arg(part.trimmed());
      return false;
    }
    const std::string key = part.left(eq).trimmed().toStdString();
    const std::string raw = part.mid(eq + 1).trimmed().toStdString();
    auto v = nlohmann::json::parse(raw, nullptr, false);
    args[key] = v.is_discarded() ? nlohmann::json(raw) : v;  // bare words become strings
  }
  return true;
}

}  // namespace perceptra::studio
