// The cache of per-activation tables that the moment, Hermite and near-diagonal tables
// share, and the lazily built segments they are made of.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>

#include "activation.hpp"
#include "deadline.hpp"

namespace sigprop {
namespace detail {

// The segments of a table, each built on first use (std::call_once: OpenMP threads
// that need the same segment wait for one build, whichever thread runs it, so the
// numbers do not depend on the thread count). A segment is allocated only when
// used, so that tables over many values of an activation parameter stay small.
template <class Segment>
class LazySegments {
 public:
  explicit LazySegments(int n) : slots_(new Slot[n]) {}

  // Segment s, built by build(s, segment) the first time it is asked for.
  template <class Build>
  const Segment& get(int s, Build&& build) const {
    Slot& slot = slots_[s];
    std::call_once(slot.once, [&] {
      std::unique_ptr<Segment> seg(new Segment);
      build(s, *seg);
      slot.seg = std::move(seg);
    });
    return *slot.seg;
  }

 private:
  struct Slot {
    std::once_flag once;
    std::unique_ptr<Segment> seg;
  };
  std::unique_ptr<Slot[]> slots_;
};

// Long segment builds cut short. A segment of the near-diagonal table costs 0.1-1 s to
// build (near_diagonal_table.hpp), on the first pair or cell that needs it, inside a
// block of a long call whose deadline is 30 ms (grid::parallel_for): built whole there, it
// held Ctrl-C for up to ~1.4 s. Such a build runs in steps (ResumableSegments, below) and
// stops between two of them once the calling thread's budget is spent, keeping the steps
// done; the unit of work that asked for it (a kernel tile, a scan cell) is then cut short
// by BuildDeferred and done again from its start by the next block (grid::restartable).
//
// The budget (BuildBudget) is the block's Deadline, which the driver of a unit that may be
// cut short sets as the thread's (BlockScope); elsewhere there is none and builds run to
// their end. A build stops only hold_s (0.25 s) after its block began, and only after
// building min_s (0.1 s) itself in this call (BuildLimits): a cut-short unit's earlier
// work is done again, so a 30 ms cut would redo it ~30 times a segment, and a unit that
// spent the block before asking still moves the build on. Ctrl-C then waits at most
// ~hold_s plus a unit's own time (a kernel tile, <~0.2 s) plus one step (a node of the
// table, 1-3 ms).
struct BuildDeferred {};

// (process-wide; the tests set them to 0 to cut every build after each step:
// _core.build_limits)
struct BuildLimits {
  std::atomic<double> hold_s{0.25}, min_s{0.1};
};
inline BuildLimits& build_limits() {
  static BuildLimits limits;
  return limits;
}

// The calling thread's block (nullptr: none, builds run to their end).
inline const Deadline*& thread_block() {
  static thread_local const Deadline* block = nullptr;
  return block;
}

// Sets the calling thread's block for its lifetime (restoring the previous one).
class BlockScope {
 public:
  explicit BlockScope(const Deadline* block) : prev_(thread_block()) { thread_block() = block; }
  ~BlockScope() { thread_block() = prev_; }
  BlockScope(const BlockScope&) = delete;
  BlockScope& operator=(const BlockScope&) = delete;

 private:
  const Deadline* prev_;
};

// One call's budget for a resumable build: spent() once the thread's block is
// hold_s old and this call has built for min_s (never without a block).
class BuildBudget {
 public:
  BuildBudget()
      : block_(thread_block()),
        start_(block_ ? block_->elapsed() : 0.0),
        hold_s_(build_limits().hold_s.load(std::memory_order_relaxed)),
        min_s_(build_limits().min_s.load(std::memory_order_relaxed)) {}
  bool spent() const {
    if (!block_) return false;
    const double t = block_->elapsed();
    return t >= hold_s_ && t - start_ >= min_s_;
  }

 private:
  const Deadline* block_;
  double start_, hold_s_, min_s_;
};

// Segments built on first use in steps, for builds too long for one block (the
// near-diagonal table's): build(s, segment, budget) runs steps until the segment is
// complete (true) or budget.spent() (false: its progress kept in the segment, which the
// next call resumes, whichever thread makes it). Threads that need the same segment wait
// for the one building it; where that one stops, the next goes on. Steps do not depend on
// where a build stopped, so the numbers do not depend on the thread count or on the
// blocks. get() throws BuildDeferred where the build stopped.
template <class Segment>
class ResumableSegments {
 public:
  explicit ResumableSegments(int n) : slots_(new Slot[n]) {}

  template <class Build>
  const Segment& get(int s, Build&& build) const {
    Slot& slot = slots_[s];
    if (const Segment* done = slot.done.load(std::memory_order_acquire)) return *done;
    {
      std::lock_guard<std::mutex> lock(slot.mu);
      if (const Segment* done = slot.done.load(std::memory_order_relaxed)) return *done;
      if (!slot.seg) slot.seg.reset(new Segment);
      const BuildBudget budget;
      if (build(s, *slot.seg, budget)) {
        slot.done.store(slot.seg.get(), std::memory_order_release);
        return *slot.seg;
      }
    }
    throw BuildDeferred{};
  }

 private:
  struct Slot {
    std::mutex mu;
    std::unique_ptr<Segment> seg;
    std::atomic<const Segment*> done{nullptr};
  };
  std::unique_ptr<Slot[]> slots_;
};

// A slot's work done once, by whichever thread first finds it not done (state 0, then 1
// while the work runs, 2 done), while the others that need it wait, giving the core back;
// where the work throws (a table build cut short, BuildDeferred) the slot is left not done
// for whichever thread asks next. Callers test st != 2 first (the fast path, inline);
// this is out of line (its try block, inline, had cost an elu kernel 3 %). A layer's
// difference-form rule and inputs (settled_difference.hpp), its table's rows
// (layer_table.hpp).
template <class State, class Work>
SIGPROP_OUT_OF_LINE void once_per_slot(std::atomic<State>& st, Work&& work) {
  for (State s = st.load(std::memory_order_acquire); s != 2;
       s = st.load(std::memory_order_acquire)) {
    if (s == 0 && st.compare_exchange_strong(s, State(1), std::memory_order_acq_rel)) {
      try {
        work();
      } catch (...) {
        st.store(State(0), std::memory_order_release);
        throw;
      }
      st.store(State(2), std::memory_order_release);
      return;
    }
    if (s == 1) std::this_thread::yield();
  }
}

// Per-activation tables (moment tables, moment_table.hpp; Hermite tables,
// hermite_table.hpp), keyed on the activation's identity (kind and parameters;
// a custom activation's id is never reused). At most `cap` are kept: beyond
// that the least recently fetched is dropped (a scan over 20,000 values of an
// activation parameter does not keep 20,000 tables). A per-thread cache of the
// last table (a shared_ptr, so that a dropped table stays valid for a thread
// still using it) avoids the lock; `epoch` invalidates those caches when tables
// are cleared.
template <class T, std::size_t cap>
class TableCache {
 public:
  static constexpr std::size_t max_tables = cap;

  static TableCache& instance() {
    static TableCache* c = new TableCache;  // leaked at exit on purpose
    return *c;
  }

  std::shared_ptr<const T> get(const Activation& a) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& e = tables_[key(a)];
    if (!e.table) e.table = std::make_shared<const T>(a);
    e.tick = ++tick_;
    if (tables_.size() > max_tables) evict_oldest();
    return e.table;
  }

  // The table of a as get's, where a missing one is built by the caller's build(T&)
  // outside the lock (in stoppable parallel blocks: an exception from build stores
  // nothing) and then stored; where two threads build it at once, the first stored is
  // kept and returned to both.
  template <class Build>
  std::shared_ptr<const T> get_or_build(const Activation& a, Build&& build) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto it = tables_.find(key(a));
      if (it != tables_.end()) {
        it->second.tick = ++tick_;
        return it->second.table;
      }
    }
    auto t = std::make_shared<T>();
    build(*t);
    std::lock_guard<std::mutex> lock(mu_);
    auto& e = tables_[key(a)];
    if (!e.table) e.table = std::move(t);
    e.tick = ++tick_;
    if (tables_.size() > max_tables) evict_oldest();  // (never e: the latest tick)
    return e.table;
  }

  // Drops every table (clear_all) or those of one custom id.
  void clear_all() {
    std::lock_guard<std::mutex> lock(mu_);
    tables_.clear();
    epoch_.fetch_add(1, std::memory_order_acq_rel);
  }
  void clear_custom(double id) {
    std::lock_guard<std::mutex> lock(mu_);
    tables_.erase(Key{int(Kind::custom), id, 0.0});
    epoch_.fetch_add(1, std::memory_order_acq_rel);
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tables_.size();
  }
  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

  // The table of a, through the calling thread's cache.
  static const T* fetch(const Activation& a) { return fetch_shared(a).get(); }

  // The same, as a shared_ptr that keeps the table alive for its holder (an
  // object that reads the table later, after this thread may have moved on).
  static const std::shared_ptr<const T>& fetch_shared(const Activation& a) {
    struct Cache {
      Kind kind = Kind::linear;
      double p0 = 0.0, p1 = 0.0;
      std::uint64_t epoch = 0;
      std::shared_ptr<const T> table;
    };
    thread_local Cache cache;
    TableCache& all = instance();
    const std::uint64_t epoch = all.epoch();
    if (cache.table && cache.kind == a.kind && cache.p0 == a.p0 && cache.p1 == a.p1 &&
        cache.epoch == epoch)
      return cache.table;
    cache.table = all.get(a);
    cache.kind = a.kind;
    cache.p0 = a.p0;
    cache.p1 = a.p1;
    cache.epoch = epoch;
    return cache.table;
  }

 private:
  using Key = std::tuple<int, double, double>;
  struct Entry {
    std::shared_ptr<const T> table;
    std::uint64_t tick = 0;
  };
  static Key key(const Activation& a) { return Key{int(a.kind), a.p0, a.p1}; }
  void evict_oldest() {
    auto oldest = tables_.begin();
    for (auto it = tables_.begin(); it != tables_.end(); ++it)
      if (it->second.tick < oldest->second.tick) oldest = it;
    tables_.erase(oldest);
  }
  mutable std::mutex mu_;
  std::map<Key, Entry> tables_;
  std::uint64_t tick_ = 0;
  std::atomic<std::uint64_t> epoch_{0};
};

}  // namespace detail
}  // namespace sigprop
