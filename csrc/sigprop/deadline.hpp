// Time limits for blocks of cells (see grid::parallel_for).
//
// A Deadline is a flag that a process-wide timer thread sets once its time has
// come. Drivers read the flag after every cell: a relaxed atomic load, free next to
// even the cheapest cell (a closed-form moment, ~15 ns), where reading a clock
// after every cell would cost 1.5-2.5x. The timer thread starts on the first
// Deadline and then sleeps until the earliest pending one (a new Deadline wakes it
// only where it would otherwise wake too late: at most once per block's length when
// blocks follow each other); it is never joined (it lives until the process exits),
// and a forked child starts its own.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define SIGPROP_HAVE_GETPID 1
#endif

namespace sigprop {

namespace detail {

class DeadlineTimer {
 public:
  using clock = std::chrono::steady_clock;

  // The timer of this process (a forked child gets a new one: the parent's
  // thread does not exist there).
  static DeadlineTimer& instance() {
    static std::mutex guard;
    static DeadlineTimer* timer = nullptr;
    static long owner = -1;
    std::lock_guard<std::mutex> lock(guard);
    const long pid = current_pid();
    if (timer == nullptr || owner != pid) {
      timer = new DeadlineTimer();  // never deleted: its thread runs until exit
      owner = pid;
    }
    return *timer;
  }

  using Handle = std::multimap<clock::time_point, std::atomic<bool>*>::iterator;

  Handle add(clock::time_point at, std::atomic<bool>* flag) {
    std::lock_guard<std::mutex> lock(m_);
    const Handle h = pending_.emplace(at, flag);
    // Wake the timer only where it would otherwise wake too late: it sleeps until
    // wake_at_ and then waits again for the earliest entry. A caller that runs short
    // blocks one after another (a kernel's layers: two or three a layer) adds a
    // deadline ~30 ms out each time, after the timer's own; waking it for each had
    // cost a futex call and a context switch a block (~10-20 % of relu's 100-input
    // kernel, and on 2 cores the woken timer took a core from the OpenMP team).
    if (at < wake_at_) cv_.notify_one();
    return h;
  }

  // Erases h unless it has fired (the timer sets the flag and erases the entry
  // under the same lock, so the flag read here tells whether h is still valid).
  void remove_if_pending(Handle h, const std::atomic<bool>* flag) {
    std::lock_guard<std::mutex> lock(m_);
    if (!flag->load(std::memory_order_relaxed)) pending_.erase(h);
  }

 private:
  DeadlineTimer() : thread_([this] { loop(); }) { thread_.detach(); }

  static long current_pid() {
#ifdef SIGPROP_HAVE_GETPID
    return long(::getpid());
#else
    return 0;
#endif
  }

  void loop() {
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      if (pending_.empty()) {
        wake_at_ = clock::time_point::max();
        cv_.wait(lock);
        continue;
      }
      const auto first = pending_.begin();
      if (clock::now() >= first->first) {
        first->second->store(true, std::memory_order_relaxed);
        pending_.erase(first);
        continue;
      }
      // A copy: the entry may be erased while the lock is released inside the wait.
      const clock::time_point at = first->first;
      wake_at_ = at;
      cv_.wait_until(lock, at);
    }
  }

  std::mutex m_;
  std::condition_variable cv_;
  std::multimap<clock::time_point, std::atomic<bool>*> pending_;
  // When the timer thread wakes next at the latest (max: when it waits for an entry);
  // set under m_ before each wait.
  clock::time_point wake_at_ = clock::time_point::max();
  std::thread thread_;
};

}  // namespace detail

// passed() turns true about `seconds` after construction (the timer thread's
// wake-up latency late, typically < 1 ms). Not copyable: the timer holds its
// address until the destructor.
class Deadline {
 public:
  explicit Deadline(double seconds)
      : start_(detail::DeadlineTimer::clock::now()),
        timer_(detail::DeadlineTimer::instance()),
        handle_(
            timer_.add(start_ + std::chrono::duration_cast<detail::DeadlineTimer::clock::duration>(
                                    std::chrono::duration<double>(seconds)),
                       &passed_)) {}
  ~Deadline() {
    // The timer erases an entry when it fires; erase it here otherwise.
    timer_.remove_if_pending(handle_, &passed_);
  }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  bool passed() const { return passed_.load(std::memory_order_relaxed); }
  // Seconds since construction: a clock read, for callers between ms-scale steps (a
  // long table build deciding whether to stop: table_cache.hpp, BuildBudget).
  double elapsed() const {
    return std::chrono::duration<double>(detail::DeadlineTimer::clock::now() - start_).count();
  }

 private:
  detail::DeadlineTimer::clock::time_point start_;
  std::atomic<bool> passed_{false};
  detail::DeadlineTimer& timer_;
  detail::DeadlineTimer::Handle handle_;
};

}  // namespace sigprop
