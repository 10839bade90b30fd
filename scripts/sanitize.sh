#!/usr/bin/env bash
# Build and run the core's sanitizer driver (tests/cpp): ASan+UBSan or TSan.
#   scripts/sanitize.sh address   # AddressSanitizer + UndefinedBehaviorSanitizer
#   scripts/sanitize.sh thread    # ThreadSanitizer
# Exits non-zero on any sanitizer report or result mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-address}"
build="build/sanitize-$kind"
cmake -S tests/cpp -B "$build" -DSIGPROP_SANITIZER="$kind" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j 2 >/dev/null
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1"
"$build/sanitize_driver" 2
