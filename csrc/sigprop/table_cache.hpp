// The cache of per-activation tables that the moment, Hermite and near-diagonal tables
// share, and the lazily built segments they are made of.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "activation.hpp"

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
