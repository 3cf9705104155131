#include "core/io/import/pickle_vm.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "core/io/import/source_bytes.h"

namespace perceptra::import {

namespace {

constexpr size_t kMaxStack = 1 << 20, kMaxMemo = 1 << 20, kMaxMarks = 256;
constexpr int kMaxDepth = 64;

// The globals torch.save's state dicts reference; nothing else is resolved.
const std::set<std::string>& allowed_globals() {
  static const std::set<std::string> g = {"collections.OrderedDict",
                                          "torch._utils._rebuild_tensor_v2",
                                          "torch._utils._rebuild_parameter",
                                          "torch.FloatStorage",
                                          "torch.DoubleStorage",
                                          "torch.HalfStorage",
                                          "torch.BFloat16Storage",
                                          "torch.LongStorage",
                                          "torch.IntStorage",
                                          "torch.ShortStorage",
                                          "torch.CharStorage",
                                          "torch.ByteStorage",
                                          "torch.BoolStorage"};
  return g;
}

PyRef make(PyValue::Kind k) {
  auto v = std::make_shared<PyValue>();
  v->kind = k;
  return v;
}

class Vm {
 public:
  Vm(std::string_view data, const std::string& where) : r_(data, where) {}

  PyRef run() {
    while (true) {
      const uint64_t at = r_.pos();
      const uint8_t op = r_.u8();
      switch (op) {
        case 0x80:
          r_.u8();
          break;  // PROTO
        case 0x95:
          r_.le<uint64_t>();
          break;     // FRAME (length only)
        case '.': {  // STOP
          if (stack_.size() != 1 || !marks_.empty())
            fail(at, "ends with " + std::to_string(stack_.size()) + " values on the stack");
          return stack_.back();
        }
        case '(': {
          if (marks_.size() >= kMaxMarks) fail(at, "nests too deeply");
          marks_.push_back(stack_.size());
          break;
        }
        case 'N':
          push(make(PyValue::Kind::None));
          break;
        case 0x88:
        case 0x89: {
          auto v = make(PyValue::Kind::Bool);
          v->i = op == 0x88;
          push(v);
          break;
        }
        case 'J':
          push_int(r_.le<int32_t>());
          break;
        case 'K':
          push_int(r_.u8());
          break;
        case 'M':
          push_int(r_.le<uint16_t>());
          break;
        case 0x8a: {  // LONG1
          const uint8_t n = r_.u8();
          if (n > 8) fail(at, "holds an integer wider than 64 bits");
          std::string_view b = r_.take(n);
          uint64_t u = 0;
          for (size_t k = 0; k < n; ++k) u |= uint64_t(uint8_t(b[k])) << (8 * k);
          if (n && n < 8 && (uint8_t(b[n - 1]) & 0x80)) u |= ~uint64_t(0) << (8 * n);  // sign
          push_int(int64_t(u));
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          std::string_view b = r_.take(8);
          uint64_t u = 0;
          for (int k = 0; k < 8; ++k) u = (u << 8) | uint8_t(b[size_t(k)]);
          auto v = make(PyValue::Kind::Float);
          std::memcpy(&v->f, &u, 8);
          push(v);
          break;
        }
        case 'X':
          push_str(PyValue::Kind::Str, r_.le<uint32_t>());
          break;
        case 0x8c:
          push_str(PyValue::Kind::Str, r_.u8());
          break;
        case 0x8d:
          push_str(PyValue::Kind::Str, r_.le<uint64_t>());
          break;
        case 'B':
          push_str(PyValue::Kind::Bytes, r_.le<uint32_t>());
          break;
        case 'C':
          push_str(PyValue::Kind::Bytes, r_.u8());
          break;
        case 'c': {  // GLOBAL "module\nname\n"
          std::string module = line(at), name = line(at);
          push(global(at, module + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          PyRef name = pop(at), module = pop(at);
          if (module->kind != PyValue::Kind::Str || name->kind != PyValue::Kind::Str)
            fail(at, "STACK_GLOBAL needs two strings");
          push(global(at, module->s + "." + name->s));
          break;
        }
        case 'q':
          memo_put(at, r_.u8());
          break;
        case 'r':
          memo_put(at, r_.le<uint32_t>());
          break;
        case 0x94:
          memo_put(at, uint32_t(memo_.size()));
          break;  // MEMOIZE
        case 'h':
          push(memo_get(at, r_.u8()));
          break;
        case 'j':
          push(memo_get(at, r_.le<uint32_t>()));
          break;
        case ')':
          push(make(PyValue::Kind::Tuple));
          break;
        case ']':
          push(make(PyValue::Kind::List));
          break;
        case '}':
          push(make(PyValue::Kind::Dict));
          break;
        case 't':
          push(container(at, PyValue::Kind::Tuple, pop_mark(at)));
          break;
        case 0x85:
        case 0x86:
        case 0x87: {
          const size_t n = size_t(op - 0x84);
          if (stack_.size() < n + floor()) fail(at, "TUPLE" + std::to_string(n) + " on a short stack");
          std::vector<PyRef> items(stack_.end() - long(n), stack_.end());
          stack_.resize(stack_.size() - n);
          push(container(at, PyValue::Kind::Tuple, std::move(items)));
          break;
        }
        case 'l':
          push(container(at, PyValue::Kind::List, pop_mark(at)));
          break;
        case 'a': {
          PyRef v = pop(at);
          add_items(at, top(at), {v});
          break;
        }
        case 'e': {
          std::vector<PyRef> items = pop_mark(at);
          add_items(at, top(at), std::move(items));
          break;
        }
        case 'd': {
          auto d = make(PyValue::Kind::Dict);
          add_items(at, d, pop_mark(at));
          push(d);
          break;
        }
        case 's': {
          PyRef v = pop(at), k = pop(at);
          add_items(at, top(at), {k, v});
          break;
        }
        case 'u': {
          std::vector<PyRef> items = pop_mark(at);
          add_items(at, top(at), std::move(items));
          break;
        }
        case 'Q': {  // BINPERSID: torch's storage reference
          push(storage(at, pop(at)));
          break;
        }
        case 'R': {
          PyRef args = pop(at), fn = pop(at);
          push(reduce(at, fn, args));
          break;
        }
        case 'b': {  // BUILD: state of an OrderedDict (its _metadata) is ignored
          pop(at);
          PyRef obj = top(at);
          if (obj->kind != PyValue::Kind::Dict && obj->kind != PyValue::Kind::Tensor)
            fail(at, "BUILD on something other than a dict or tensor");
          break;
        }
        case '0':
          pop(at);
          break;  // POP
        case '2':
          push(top(at));
          break;  // DUP
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          fail(at, std::string("uses pickle opcode ") + hex + ", which torch state dicts never contain; refused");
        }
      }
    }
  }

 private:
  [[noreturn]] void fail(uint64_t at, const std::string& problem) const {
    r_.fail_at("pickle at byte " + std::to_string(at) + " " + problem);
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(PyRef v) {
    if (stack_.size() >= kMaxStack) fail(r_.pos(), "overflows the stack limit");
    stack_.push_back(std::move(v));
  }
  void push_int(int64_t i) {
    auto v = make(PyValue::Kind::Int);
    v->i = i;
    push(v);
  }
  void push_str(PyValue::Kind k, uint64_t n) {
    auto v = make(k);
    v->s = std::string(r_.take(n));  // take() checks n against the bytes left
    push(v);
  }
  PyRef pop(uint64_t at) {
    if (stack_.size() <= floor()) fail(at, "pops an empty stack");
    PyRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  PyRef top(uint64_t at) {
    if (stack_.size() <= floor()) fail(at, "reads an empty stack");
    return stack_.back();
  }
  std::vector<PyRef> pop_mark(uint64_t at) {
    if (marks_.empty()) fail(at, "has no MARK to pop to");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> items(stack_.begin() + long(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  std::string line(uint64_t at) {
    std::string s;
    while (true) {
      if (r_.done()) fail(at, "GLOBAL name is not terminated");
      char c = char(r_.u8());
      if (c == '\n') return s;
      if (s.size() > 200) fail(at, "GLOBAL name is too long");
      s += c;
    }
  }
  PyRef global(uint64_t at, const std::string& name) {
    if (!allowed_globals().count(name))
      fail(at, "references the global '" + name +
                   "', which a state dict never needs; refused (only tensors and "
                   "OrderedDicts are read, no code is run)");
    auto v = make(PyValue::Kind::Global);
    v->s = name;
    return v;
  }
  void memo_put(uint64_t at, uint32_t key) {
    if (memo_.size() >= kMaxMemo && !memo_.count(key)) fail(at, "overflows the memo limit");
    memo_[key] = top(at);
  }
  PyRef memo_get(uint64_t at, uint32_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) fail(at, "reads memo entry " + std::to_string(key) + ", never stored");
    return it->second;
  }
  // Children are marked as nested: a container that is already inside
  // another may not grow afterwards (torch.save never does that), which keeps
  // the recorded depth exact and rules out cycles.
  void adopt(uint64_t at, PyValue& parent, const PyRef& child) {
    // The one cycle the nesting rule leaves open: a container put inside
    // itself (DUP then APPEND) would never be freed (shared_ptr cycle).
    if (child.get() == &parent) fail(at, "puts a container inside itself; refused");
    child->depth = std::max(child->depth, 1);
    if (child->depth + 1 > kMaxDepth) fail(at, "nests containers deeper than " + std::to_string(kMaxDepth));
    parent.depth = std::max(parent.depth, child->depth + 1);
    child->nested = true;
  }
  PyRef container(uint64_t at, PyValue::Kind k, std::vector<PyRef> items) {
    auto v = make(k);
    for (auto& c : items) adopt(at, *v, c);
    v->items = std::move(items);
    return v;
  }
  void add_items(uint64_t at, const PyRef& target, std::vector<PyRef> items) {
    if (target->nested) fail(at, "changes a container after nesting it; refused");
    if (target->kind == PyValue::Kind::List) {
      for (auto& c : items) adopt(at, *target, c);
      for (auto& c : items) target->items.push_back(std::move(c));
      return;
    }
    if (target->kind != PyValue::Kind::Dict) fail(at, "adds items to something that is no dict or list");
    if (items.size() % 2) fail(at, "SETITEMS with an odd number of values");
    for (size_t k = 0; k < items.size(); k += 2) {
      adopt(at, *target, items[k]);
      adopt(at, *target, items[k + 1]);
      target->dict.emplace_back(std::move(items[k]), std::move(items[k + 1]));
    }
  }
  PyRef storage(uint64_t at, const PyRef& pid) {
    // ('storage', torch.FloatStorage, key, location, numel)
    const auto& t = pid->items;
    if (pid->kind != PyValue::Kind::Tuple || t.size() != 5 || t[0]->kind != PyValue::Kind::Str ||
        t[0]->s != "storage" || t[1]->kind != PyValue::Kind::Global || t[2]->kind != PyValue::Kind::Str ||
        t[4]->kind != PyValue::Kind::Int)
      fail(at, "has a persistent id that is not a torch storage reference");
    const std::string& type = t[1]->s;  // torch.FloatStorage
    if (type.size() < 13 || type.compare(type.size() - 7, 7, "Storage") != 0)
      fail(at, "persistent id names '" + type + "' as a storage type");
    if (t[4]->i < 0) fail(at, "declares a storage with a negative size");
    if (t[2]->s.empty() || t[2]->s.size() > 32) fail(at, "has a bad storage key");
    auto v = make(PyValue::Kind::Storage);
    v->tensor.dtype = type.substr(6, type.size() - 6 - 7);  // "Float"
    v->tensor.storage_key = t[2]->s;
    v->tensor.storage_numel = t[4]->i;
    return v;
  }
  static bool int_tuple(const PyRef& v, std::vector<int64_t>& out) {
    if (v->kind != PyValue::Kind::Tuple) return false;
    out.clear();
    for (const auto& x : v->items) {
      if (x->kind != PyValue::Kind::Int) return false;
      out.push_back(x->i);
    }
    return true;
  }
  PyRef reduce(uint64_t at, const PyRef& fn, const PyRef& args) {
    if (fn->kind != PyValue::Kind::Global) fail(at, "calls something that is not a known global");
    if (args->kind != PyValue::Kind::Tuple) fail(at, "calls " + fn->s + " without an argument tuple");
    const auto& a = args->items;
    if (fn->s == "collections.OrderedDict") {
      if (!a.empty()) fail(at, "builds an OrderedDict from arguments");
      return make(PyValue::Kind::Dict);
    }
    if (fn->s == "torch._utils._rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      if (a.size() < 4 || a[0]->kind != PyValue::Kind::Storage || a[1]->kind != PyValue::Kind::Int)
        fail(at, "calls _rebuild_tensor_v2 with unexpected arguments");
      auto v = make(PyValue::Kind::Tensor);
      v->tensor = a[0]->tensor;
      v->tensor.offset = a[1]->i;
      if (!int_tuple(a[2], v->tensor.size) || !int_tuple(a[3], v->tensor.stride) ||
          v->tensor.size.size() != v->tensor.stride.size() || v->tensor.size.size() > 8)
        fail(at, "calls _rebuild_tensor_v2 with a bad size or stride");
      return v;
    }
    if (fn->s == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0]->kind != PyValue::Kind::Tensor) fail(at, "calls _rebuild_parameter without a tensor");
      return a[0];
    }
    fail(at, "calls '" + fn->s + "', which is not callable here");
  }

  ByteReader r_;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::map<uint32_t, PyRef> memo_;
};

}  // namespace

PyRef unpickle_torch(std::string_view data, const std::string& where) { return Vm(data, where).run(); }

}  // namespace perceptra::import
