// The lifetime of the cached tables (moment_table.hpp, hermite_table.hpp,
// near_diagonal_table.hpp, the smoothing tables of saturating_pair.hpp and
// softsign_pair.hpp, and eoc.hpp's tables of g(q)): freeing
// them all, and releasing a custom activation together with its tables.
#pragma once

#include <cstdint>

#include "custom_activation.hpp"
#include "eoc.hpp"
#include "hermite_table.hpp"
#include "moment_table.hpp"
#include "near_diagonal_table.hpp"
#include "remainder_table.hpp"
#include "saturating_pair.hpp"
#include "softsign_pair.hpp"

namespace sigprop {

// Frees every cached table, one-point and two-point (the next use rebuilds
// them). Safe while kernels run in other threads: each thread's cache holds a
// shared_ptr to the table it uses, which keeps it alive until the thread moves on.
inline void clear_tables() {
  clear_moment_tables();
  detail::HermiteTableCache::instance().clear_all();
  detail::NearDiagonalTableCache::instance().clear_all();
  detail::SaturatingTableCache::instance().clear_all();
  detail::SoftsignTableCache::instance().clear_all();
  detail::RemainderTableCache::instance().clear_all();
  detail::EocTableCache::instance().clear_all();
}

// Releases a custom activation: its tables, then the activation itself. Call
// only when no kernel can be using this id (from Python: when its last handle
// goes, with the GIL held; a kernel's caller holds the handle).
inline bool release_custom_activation(double id) {
  detail::MomentTableCache::instance().clear_custom(id);
  detail::HermiteTableCache::instance().clear_custom(id);
  detail::EocTableCache::instance().clear_custom(id);
  return CustomRegistry::instance().release(std::uint32_t(id));
}

}  // namespace sigprop
