#include "torch_pickle.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <map>
#include <memory>

#include "covscreen/core/error.h"

namespace covscreen::detail {
namespace {

struct Obj;
using Ref = std::shared_ptr<Obj>;
struct Obj {
  enum Kind { kNone, kBool, kInt, kFloat, kStr, kTuple, kList, kDict, kGlobal, kTensor, kStorage } kind = kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;                             // str, bytes, global "module.name"
  std::vector<Ref> items;                    // tuple, list
  std::vector<std::pair<Ref, Ref>> entries;  // dict
  torch::Tensor tensor;                      // tensor, storage (1-D)
};

Ref make(Obj::Kind k) {
  auto o = std::make_shared<Obj>();
  o->kind = k;
  return o;
}

const std::map<std::string, torch::ScalarType>& storage_types() {
  static const std::map<std::string, torch::ScalarType> m{
      {"FloatStorage", torch::kFloat32},     {"DoubleStorage", torch::kFloat64}, {"HalfStorage", torch::kFloat16},
      {"BFloat16Storage", torch::kBFloat16}, {"LongStorage", torch::kInt64},     {"IntStorage", torch::kInt32},
      {"ShortStorage", torch::kInt16},       {"CharStorage", torch::kInt8},      {"ByteStorage", torch::kUInt8},
      {"BoolStorage", torch::kBool}};
  return m;
}

class Unpickler {
 public:
  Unpickler(std::string path, caffe2::serialize::PyTorchStreamReader& zip, const char* data, size_t size)
      : path_(std::move(path)), zip_(zip), p_(data), end_(data + size) {}

  Ref run() {
    while (true) {
      const uint8_t op = u8();
      switch (op) {
        case 0x80:
          u8();
          break;  // PROTO
        case 0x95:
          take(8);
          break;  // FRAME
        case '.':
          return pop();  // STOP
        case '(':
          marks_.push_back(stack_.size());
          break;  // MARK
        case 'N':
          push(make(Obj::kNone));
          break;
        case 0x88:
        case 0x89: {
          auto b = make(Obj::kBool);
          b->i = op == 0x88;
          push(b);
          break;
        }
        case 'J':
          push_int(static_cast<int32_t>(le(4)));
          break;
        case 'K':
          push_int(static_cast<int64_t>(le(1)));
          break;
        case 'M':
          push_int(static_cast<int64_t>(le(2)));
          break;
        case 0x8a:
          push_int(long_n(le(1)));
          break;  // LONG1
        case 0x8b:
          push_int(long_n(le(4)));
          break;     // LONG4
        case 'G': {  // BINFLOAT (big-endian)
          uint64_t bits = 0;
          const char* b = take(8);
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<uint8_t>(b[k]);
          auto o = make(Obj::kFloat);
          std::memcpy(&o->f, &bits, 8);
          push(o);
          break;
        }
        case 'X':
        case 'T':
        case 'B':
          push_str(le(4));
          break;  // BINUNICODE, BINSTRING, BINBYTES
        case 0x8c:
        case 'U':
        case 'C':
          push_str(le(1));
          break;  // SHORT_BINUNICODE/BINSTRING/BINBYTES
        case 0x8d:
        case 0x8e:
          push_str(le(8));
          break;  // BINUNICODE8, BINBYTES8
        case ')':
          push(make(Obj::kTuple));
          break;
        case 0x85:
          tuple_of(1);
          break;
        case 0x86:
          tuple_of(2);
          break;
        case 0x87:
          tuple_of(3);
          break;
        case 't': {
          auto t = make(Obj::kTuple);
          t->items = pop_mark();
          push(t);
          break;
        }
        case ']':
          push(make(Obj::kList));
          break;
        case 'l': {
          auto l = make(Obj::kList);
          l->items = pop_mark();
          push(l);
          break;
        }
        case 'a': {
          auto v = pop();
          expect(top(), Obj::kList, "APPEND")->items.push_back(v);
          break;
        }
        case 'e': {
          auto v = pop_mark();
          auto& l = expect(top(), Obj::kList, "APPENDS")->items;
          l.insert(l.end(), v.begin(), v.end());
          break;
        }
        case '}':
          push(make(Obj::kDict));
          break;
        case 'd': {
          auto d = make(Obj::kDict);
          set_items(d, pop_mark());
          push(d);
          break;
        }
        case 's': {
          auto v = pop();
          auto k = pop();
          expect(top(), Obj::kDict, "SETITEM")->entries.emplace_back(k, v);
          break;
        }
        case 'u': {
          auto kv = pop_mark();
          set_items(expect(top(), Obj::kDict, "SETITEMS"), kv);
          break;
        }
        case 'q':
          memo_[le(1)] = top();
          break;  // BINPUT
        case 'r':
          memo_[le(4)] = top();
          break;  // LONG_BINPUT
        case 0x94:
          memo_[memo_.size()] = top();
          break;  // MEMOIZE
        case 'h':
          push(memo(le(1)));
          break;  // BINGET
        case 'j':
          push(memo(le(4)));
          break;     // LONG_BINGET
        case 'c': {  // GLOBAL
          auto g = make(Obj::kGlobal);
          g->s = line();
          g->s += "." + line();
          push(g);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop(), module = pop();
          auto g = make(Obj::kGlobal);
          g->s = module->s + "." + name->s;
          push(g);
          break;
        }
        case 'R':
        case 0x81: {
          auto args = pop();
          auto fn = pop();
          push(reduce(fn, args));
          break;
        }  // REDUCE/NEWOBJ
        case 'b':
          pop();
          break;  // BUILD: drops an OrderedDict's state (its _metadata)
        case 'Q':
          push(persistent(pop()));
          break;  // BINPERSID
        case '0':
          pop();
          break;  // POP
        default:
          fail("unsupported pickle opcode 0x" + hex(op));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) { throw FileError(path_, "cannot read torch.save file: " + what); }
  static std::string hex(uint8_t v) {
    const char* d = "0123456789abcdef";
    return std::string{d[v >> 4], d[v & 15]};
  }
  const char* take(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) fail("truncated pickle data");
    const char* r = p_;
    p_ += n;
    return r;
  }
  uint8_t u8() { return static_cast<uint8_t>(*take(1)); }
  uint64_t le(int n) {
    const char* b = take(n);
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(b[k]);
    return v;
  }
  int64_t long_n(uint64_t n) {
    if (n > 8) fail("integer too large");
    if (n == 0) return 0;
    const char* b = take(n);
    uint64_t v = 0;
    for (int k = static_cast<int>(n) - 1; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(b[k]);
    if (n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) fail("truncated pickle data");
    std::string s(p_, nl);
    p_ = nl + 1;
    return s;
  }
  void push(Ref r) { stack_.push_back(std::move(r)); }
  void push_int(int64_t v) {
    auto o = make(Obj::kInt);
    o->i = v;
    push(o);
  }
  void push_str(uint64_t n) {
    auto o = make(Obj::kStr);
    const char* b = take(n);
    o->s.assign(b, n);
    push(o);
  }
  Ref pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) fail("pickle stack underflow");
    Ref r = std::move(stack_.back());
    stack_.pop_back();
    return r;
  }
  Ref& top() {
    if (stack_.empty()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("pickle MARK missing");
    std::vector<Ref> v(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return v;
  }
  void tuple_of(size_t n) {
    auto t = make(Obj::kTuple);
    t->items.resize(n);
    for (size_t k = n; k-- > 0;) t->items[k] = pop();
    push(t);
  }
  Ref memo(uint64_t id) {
    auto it = memo_.find(id);
    if (it == memo_.end()) fail("pickle memo entry missing");
    return it->second;
  }
  Ref& expect(Ref& r, Obj::Kind k, const char* op) {
    if (r->kind != k) fail(std::string(op) + " on the wrong kind of object");
    return r;
  }
  void set_items(const Ref& d, const std::vector<Ref>& kv) {
    if (kv.size() % 2) fail("odd SETITEMS");
    for (size_t k = 0; k < kv.size(); k += 2) d->entries.emplace_back(kv[k], kv[k + 1]);
  }
  const std::vector<Ref>& args_of(const Ref& args, size_t min, const std::string& fn) {
    if (args->kind != Obj::kTuple || args->items.size() < min) fail("bad arguments to " + fn);
    return args->items;
  }
  std::vector<int64_t> ints(const Ref& t) {
    if (t->kind != Obj::kTuple && t->kind != Obj::kList) fail("expected a tuple of integers");
    std::vector<int64_t> v;
    for (const auto& e : t->items) {
      if (e->kind != Obj::kInt) fail("expected a tuple of integers");
      v.push_back(e->i);
    }
    return v;
  }

  Ref reduce(const Ref& fn, const Ref& args) {
    if (fn->kind != Obj::kGlobal) fail("REDUCE on a non-global");
    const std::string& f = fn->s;
    if (f == "collections.OrderedDict" || f == "builtins.dict" || f == "__builtin__.dict") return make(Obj::kDict);
    if (f == "torch.jit._pickle.restore_type_tag") return args_of(args, 1, f)[0];
    if (f == "torch._utils._rebuild_parameter") {
      const auto& a = args_of(args, 1, f);
      if (a[0]->kind != Obj::kTensor) fail("parameter without tensor data");
      return a[0];
    }
    if (f == "torch._utils._rebuild_tensor_v2") {
      const auto& a = args_of(args, 4, f);
      if (a[0]->kind != Obj::kStorage || a[1]->kind != Obj::kInt) fail("tensor without storage");
      const auto size = ints(a[2]), stride = ints(a[3]);
      if (size.size() != stride.size()) fail("tensor size/stride mismatch");
      const torch::Tensor& st = a[0]->tensor;
      int64_t last = a[1]->i;  // highest element index touched must be inside the storage
      for (size_t d = 0; d < size.size(); ++d) {
        if (size[d] < 0 || stride[d] < 0) fail("negative tensor size or stride");
        if (size[d] == 0) last = -1;
        if (last >= 0) last += (size[d] - 1) * stride[d];
      }
      if (a[1]->i < 0 || last >= st.numel()) fail("tensor exceeds its storage");
      auto t = make(Obj::kTensor);
      t->tensor = st.as_strided(size, stride, a[1]->i).contiguous();
      return t;
    }
    fail("unsupported object '" + f + "' (expected a dict of tensors)");
  }

  Ref persistent(const Ref& pid) {
    const auto& a = args_of(pid, 5, "persistent id");
    if (a[0]->kind != Obj::kStr || a[0]->s != "storage" || a[1]->kind != Obj::kGlobal || a[2]->kind != Obj::kStr ||
        a[4]->kind != Obj::kInt)
      fail("unsupported persistent id");
    const std::string& type = a[1]->s;
    const std::string short_type = type.substr(type.rfind('.') + 1);
    auto it = storage_types().find(short_type);
    if (it == storage_types().end()) fail("unsupported storage type " + type);
    const std::string record = "data/" + a[2]->s;
    auto cached = storages_.find(record);
    if (cached != storages_.end()) return cached->second;
    if (!zip_.hasRecord(record)) fail("missing record " + record);
    auto [data, nbytes] = zip_.getRecord(record);
    auto st = torch::empty({a[4]->i}, torch::TensorOptions().dtype(it->second));
    if (static_cast<size_t>(st.numel() * st.element_size()) != nbytes)
      fail("record " + record + " has " + std::to_string(nbytes) + " bytes, expected " +
           std::to_string(st.numel() * st.element_size()));
    if (nbytes) std::memcpy(st.data_ptr(), data.get(), nbytes);
    auto o = make(Obj::kStorage);
    o->tensor = st;
    storages_[record] = o;
    return o;
  }

  std::string path_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  const char* p_;
  const char* end_;
  std::vector<Ref> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, Ref> memo_;
  std::map<std::string, Ref> storages_;
};

PickledDict to_dict(const Ref& d, const std::string& path) {
  PickledDict out;
  for (const auto& [k, v] : d->entries) {
    if (k->kind != Obj::kStr) throw FileError(path, "state_dict has a non-string key");
    if (v->kind == Obj::kTensor) out.tensors.emplace_back(k->s, v->tensor);
    if (v->kind == Obj::kDict) out.dicts.emplace_back(k->s, to_dict(v, path));
  }
  return out;
}

}  // namespace

PickledDict read_torch_zip(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader zip(path);
    if (zip.hasRecord("byteorder")) {
      auto [data, n] = zip.getRecord("byteorder");
      if (std::string(static_cast<const char*>(data.get()), n) != "little")
        throw FileError(path, "big-endian torch.save files are not supported");
    }
    if (!zip.hasRecord("data.pkl")) throw FileError(path, "zip archive without data.pkl (not a torch.save file)");
    auto [pkl, n] = zip.getRecord("data.pkl");
    Unpickler u(path, zip, static_cast<const char*>(pkl.get()), n);
    Ref root = u.run();
    if (root->kind != Obj::kDict) throw FileError(path, "torch.save file does not hold a dict");
    return to_dict(root, path);
  } catch (const c10::Error& e) {
    throw FileError(path, std::string("cannot read torch.save file: ") + e.what_without_backtrace());
  }
}

}  // namespace covscreen::detail
