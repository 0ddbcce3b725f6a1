// SPDX-License-Identifier: Apache-2.0
#include "tbbx/context/detail/timer_wheel.h"

#include <bit>

namespace tbbx::detail {

namespace {
constexpr std::int64_t kNsPerTick = 1000;
}  // namespace

std::int64_t timer_wheel::to_tick(clock::time_point t) noexcept {
  const std::int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch())
          .count();
  // Round up, so that an entry never fires before its time.
  std::int64_t tick = ns / kNsPerTick;
  if (ns % kNsPerTick > 0) ++tick;
  return tick;
}

std::int64_t timer_wheel::elapsed_tick(clock::time_point t) noexcept {
  const std::int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch())
          .count();
  std::int64_t tick = ns / kNsPerTick;
  if (ns % kNsPerTick < 0) --tick;  // toward minus infinity
  return tick;
}

timer_wheel::clock::time_point timer_wheel::from_tick(
    std::int64_t tick) noexcept {
  if (tick >=
      clock::time_point::max().time_since_epoch().count() / kNsPerTick) {
    return clock::time_point::max();
  }
  return clock::time_point(std::chrono::duration_cast<clock::duration>(
      std::chrono::nanoseconds(tick * kNsPerTick)));
}

void timer_wheel::place(timer_entry* e, int level, int slot) noexcept {
  e->slot = static_cast<std::uint16_t>(level * kSlots + slot);
  e->state = kQueued;
  list_of(level, slot).push_front(e);
  occupied_[level] |= std::uint64_t{1} << slot;
}

std::int64_t timer_wheel::insert(timer_entry* e, std::int64_t tick) noexcept {
  ++size_;
  e->tick = tick;
  if (tick <= current_) {
    // Due: the current level 0 slot holds only due entries.
    place(e, 0, static_cast<int>(current_ & (kSlots - 1)));
    return current_;
  }
  for (int level = 0; level < kLevels; ++level) {
    const int shift = level * kBits;
    const std::int64_t base = current_ >> shift;
    const std::int64_t target = tick >> shift;
    if (target - base < kSlots) {
      place(e, level, static_cast<int>(target & (kSlots - 1)));
      return level == 0 ? tick : target << shift;
    }
  }
  // Beyond the top level's window: wait in its farthest slot and be placed
  // again from there.
  constexpr int top = kLevels - 1;
  const std::int64_t target = (current_ >> (top * kBits)) + (kSlots - 1);
  place(e, top, static_cast<int>(target & (kSlots - 1)));
  return target << (top * kBits);
}

bool timer_wheel::remove(timer_entry* e) noexcept {
  if (e->state != kQueued) return false;
  const int level = e->slot / kSlots;
  const int slot = e->slot % kSlots;
  entry_list& list = list_of(level, slot);
  list.remove(e);
  if (list.empty()) occupied_[level] &= ~(std::uint64_t{1} << slot);
  e->state = kIdle;
  --size_;
  return true;
}

std::int64_t timer_wheel::next_event() const noexcept {
  std::int64_t best = kNever;
  for (int level = 0; level < kLevels; ++level) {
    const std::uint64_t bits = occupied_[level];
    if (bits == 0) continue;
    const int shift = level * kBits;
    const std::int64_t base = current_ >> shift;
    const int position = static_cast<int>(base & (kSlots - 1));
    // Bit d of `ahead` is the slot d positions after the current one.
    const std::uint64_t ahead = std::rotr(bits, position);
    const int d = std::countr_zero(ahead);
    const std::int64_t when = d == 0 ? current_ : (base + d) << shift;
    if (when < best) best = when;
  }
  return best;
}

void timer_wheel::advance(std::int64_t now_tick, entry_list& due) noexcept {
  for (;;) {
    const std::int64_t next = next_event();
    if (next == kNever || next > now_tick) return;
    if (next > current_) current_ = next;
    // Coarse slots whose time has come move down, top level first, so that
    // what they drop into level 0 fires in this same step.
    for (int level = kLevels - 1; level > 0; --level) {
      const int slot =
          static_cast<int>((current_ >> (level * kBits)) & (kSlots - 1));
      if ((occupied_[level] & (std::uint64_t{1} << slot)) == 0) continue;
      occupied_[level] &= ~(std::uint64_t{1} << slot);
      timer_entry* e = list_of(level, slot).take_all();
      while (e != nullptr) {
        timer_entry* next_entry = entry_list::next(e);
        entry_list::release(e);
        --size_;
        insert(e, e->tick);
        e = next_entry;
      }
    }
    const int slot = static_cast<int>(current_ & (kSlots - 1));
    if ((occupied_[0] & (std::uint64_t{1} << slot)) == 0) continue;
    occupied_[0] &= ~(std::uint64_t{1} << slot);
    timer_entry* e = list_of(0, slot).take_all();
    while (e != nullptr) {
      timer_entry* next_entry = entry_list::next(e);
      entry_list::release(e);
      e->state = kTaken;
      --size_;
      due.push_front(e);
      e = next_entry;
    }
  }
}

}  // namespace tbbx::detail
