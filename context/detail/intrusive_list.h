// SPDX-License-Identifier: Apache-2.0
// intrusive_list: the one doubly linked list of the library. Internal.
//
// Elements carry a list_hook<T> member and are linked without allocation,
// so linking never fails and never throws: the context tree's children,
// a node's callbacks, the timer wheel's slots and every FIFO of waiters use
// this list. Whoever guards the list guards the hooks of the elements in it
// (say which lock in the owner's field comment). An element is in at most
// one list per hook; `linked` tells whether it is in one.
//
// With `Fifo`, the list keeps a tail and push_back is O(1); without, it is
// one pointer and elements go in at the front.
#ifndef TBBX_CONTEXT_DETAIL_INTRUSIVE_LIST_H_
#define TBBX_CONTEXT_DETAIL_INTRUSIVE_LIST_H_

#include <type_traits>

namespace tbbx::detail {

// list_hook: two pointers. An unlinked hook's `prev` holds a sentinel (a
// linked head's `prev` is null), so no flag is needed.
template <class T>
struct list_hook {
  static T* unlinked() noexcept { return reinterpret_cast<T*>(alignof(T)); }
  T* prev = unlinked();
  T* next = nullptr;
};

template <class T, list_hook<T> T::*Hook, bool Fifo = true>
class intrusive_list {
 public:
  intrusive_list() noexcept = default;
  intrusive_list(const intrusive_list&) = delete;
  intrusive_list& operator=(const intrusive_list&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  T* front() const noexcept { return head_; }
  static T* next(const T* e) noexcept { return (e->*Hook).next; }
  static bool linked(const T* e) noexcept {
    return (e->*Hook).prev != list_hook<T>::unlinked();
  }

  void push_front(T* e) noexcept {
    list_hook<T>& h = e->*Hook;
    h.prev = nullptr;
    h.next = head_;
    if (head_ != nullptr) (head_->*Hook).prev = e;
    head_ = e;
    if constexpr (Fifo) {
      if (tail_.p == nullptr) tail_.p = e;
    }
  }

  void push_back(T* e) noexcept
    requires Fifo
  {
    list_hook<T>& h = e->*Hook;
    h.prev = tail_.p;
    h.next = nullptr;
    if (tail_.p != nullptr) {
      (tail_.p->*Hook).next = e;
    } else {
      head_ = e;
    }
    tail_.p = e;
  }

  // remove unlinks `e`, which must be in this list.
  void remove(T* e) noexcept {
    list_hook<T>& h = e->*Hook;
    (h.prev != nullptr ? (h.prev->*Hook).next : head_) = h.next;
    if (h.next != nullptr) {
      (h.next->*Hook).prev = h.prev;
    } else if constexpr (Fifo) {
      tail_.p = h.prev;
    }
    h.prev = list_hook<T>::unlinked();
    h.next = nullptr;
  }

  T* pop_front() noexcept {
    T* e = head_;
    if (e != nullptr) remove(e);
    return e;
  }

  // pop_front_draining is pop_front for a guard holder that will pop every
  // element before anyone else sees the list: it does not repair the next
  // element's `prev` (which would touch one more element's memory per pop;
  // in a big cancel walk that is a cache miss per node). Until the list is
  // empty, only pop_front_draining may be called on it.
  T* pop_front_draining() noexcept {
    T* e = head_;
    if (e == nullptr) return nullptr;
    head_ = (e->*Hook).next;
    if constexpr (Fifo) {
      if (head_ == nullptr) tail_.p = nullptr;
    }
    release(e);
    return e;
  }

  // take_all empties the list and returns its first element; the elements
  // stay chained through their hooks (still marked linked) for the caller
  // to walk with next() and unmark with release().
  T* take_all() noexcept {
    T* e = head_;
    head_ = nullptr;
    if constexpr (Fifo) tail_.p = nullptr;
    return e;
  }
  static void release(T* e) noexcept {
    list_hook<T>& h = e->*Hook;
    h.prev = list_hook<T>::unlinked();
    h.next = nullptr;
  }

 private:
  struct tail {
    T* p = nullptr;
  };
  struct no_tail {};

  T* head_ = nullptr;
  [[no_unique_address]] std::conditional_t<Fifo, tail, no_tail> tail_;
};

}  // namespace tbbx::detail

#endif  // TBBX_CONTEXT_DETAIL_INTRUSIVE_LIST_H_
