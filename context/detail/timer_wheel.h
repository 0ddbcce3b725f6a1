// SPDX-License-Identifier: Apache-2.0
// timer_wheel: the timer service's queue, a hierarchical timing wheel.
// Internal; not thread-safe (the service guards it with its lock).
//
// Eight levels of 64 slots. Level 0 slots are one tick (1 us) wide and
// span 64 us; each level up is 64 times coarser, so eight levels span
// about nine years (beyond that an entry waits in the last level and is
// placed again). An entry goes to the lowest level whose window still
// holds its due tick; when time reaches the start of a coarse slot, its
// entries move down (each entry moves at most seven times), and level 0
// slots fire. Insert and remove are O(1) (an intrusive list and a bitmap
// per level), so 10^6 pending deadlines cost no more per operation than
// ten: a binary heap pays a cache miss per level instead. Finding the next
// event is eight bit scans.
//
// Entries never fire early: a due time is rounded up to the next tick.
#ifndef TBBX_CONTEXT_DETAIL_TIMER_WHEEL_H_
#define TBBX_CONTEXT_DETAIL_TIMER_WHEEL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "tbbx/context/detail/intrusive_list.h"
#include "tbbx/context/detail/timer_entry.h"

namespace tbbx::detail {

class timer_wheel {
 public:
  using entry_list = intrusive_list<timer_entry, &timer_entry::hook, false>;
  using clock = std::chrono::steady_clock;
  static constexpr std::int64_t kNever =
      std::numeric_limits<std::int64_t>::max();

  // to_tick rounds a due time up to its tick; elapsed_tick rounds the
  // current time down, to the last tick that has fully begun. Advancing the
  // wheel to elapsed_tick(now) fires only entries whose rounded-up due time
  // has passed, so none fires early (advancing to to_tick(now) would fire
  // entries of the tick now is in, up to a tick before their time).
  // from_tick is a tick's time.
  static std::int64_t to_tick(clock::time_point t) noexcept;
  static std::int64_t elapsed_tick(clock::time_point t) noexcept;
  static clock::time_point from_tick(std::int64_t tick) noexcept;

  explicit timer_wheel(std::int64_t now_tick = 0) noexcept
      : current_(now_tick) {}
  timer_wheel(const timer_wheel&) = delete;
  timer_wheel& operator=(const timer_wheel&) = delete;

  // insert queues `e` (not queued) to fire at `tick`; an entry already due
  // fires at the next advance(). Returns the tick at which the wheel must
  // next act for it (its firing or its first move down).
  std::int64_t insert(timer_entry* e, std::int64_t tick) noexcept;
  // remove takes `e` out if it is queued and returns true; false if it is
  // not queued (never was, or taken by advance()).
  bool remove(timer_entry* e) noexcept;
  // queued tells whether `e` waits in the wheel.
  static bool queued(const timer_entry* e) noexcept {
    return e->state == kQueued;
  }

  // next_event is the tick of the next firing or move, kNever if empty.
  std::int64_t next_event() const noexcept;
  // advance handles every event up to `now_tick` and moves the entries
  // that are due onto `due` (no longer queued; their state says taken).
  void advance(std::int64_t now_tick, entry_list& due) noexcept;
  // advance_to is advance up to the time `now`: what the timer thread
  // calls, so that the rounding (elapsed_tick) is chosen in one place.
  void advance_to(clock::time_point now, entry_list& due) noexcept {
    advance(elapsed_tick(now), due);
  }

  // drop_if unqueues (without firing) every entry for which `pred` is true.
  template <class Pred>
  void drop_if(Pred pred) noexcept {
    for (entry_list& list : slots_) {
      for (timer_entry* e = list.front(); e != nullptr;) {
        timer_entry* next = entry_list::next(e);
        if (pred(e)) remove(e);
        e = next;
      }
    }
  }

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }
  std::int64_t current() const noexcept { return current_; }
  // reset_time moves an empty wheel's clock to `now_tick`, so that a new
  // entry lands in the right level after a long idle time.
  void reset_time(std::int64_t now_tick) noexcept {
    if (size_ == 0 && now_tick > current_) current_ = now_tick;
  }

 private:
  static constexpr int kBits = 6;
  static constexpr int kSlots = 1 << kBits;
  static constexpr int kLevels = 8;
  static constexpr std::uint8_t kIdle = 0, kQueued = 1, kTaken = 2;

  void place(timer_entry* e, int level, int slot) noexcept;
  entry_list& list_of(int level, int slot) noexcept {
    return slots_[level * kSlots + slot];
  }

  std::int64_t current_;  // the wheel's time: every event before it is done
  std::size_t size_ = 0;
  std::uint64_t occupied_[kLevels] = {};  // bit s: slot s of the level
  entry_list slots_[kLevels * kSlots];
};

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_TIMER_WHEEL_H_
