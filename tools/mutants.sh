#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# mutants.sh: shows that each invariant checker of the stress suite fails
# on a deliberately broken build. For each mutant below it breaks one rule
# in a copy of the sources (one replacement in one file), builds the chaos
# flavour of the one stress test that guards the rule, runs it for a few
# seconds and expects it to FAIL (a failed assertion, or a hang caught by
# the timeout). A mutant that survives means its checker checks nothing.
#
#   tools/mutants.sh [BUILD_DIR]     (./dev mutants runs it)
#   TBBX_MUTANT=<part of a name> runs only the mutants whose name has it.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
WORK="${1:-$REPO/build/mutants}"
SECONDS_PER_RUN="${TBBX_MUTANT_SECONDS:-5}"

# name|file|text to replace|replacement|test target|gtest filter
MUTANTS=(
  "cancel leaves a child not done|context/detail/tree.cc|    mark_locked(child, e, cause);\n    __WORK__|    __WORK__|stress_context_stress_test|*"
  "a done child's cause is overwritten|context/detail/tree.cc|    if (child->done()) {|    if (false) {|stress_context_stress_test|*"
  "semaphore grants past its capacity|patterns/semaphore.cc|    if (capacity_ - held_ < w->n) break;|    if (capacity_ - held_ < 0) break;|stress_semaphore_stress_test|*Racing*"
  "semaphore hands units to a canceled waiter|patterns/semaphore.cc|  if (status == detail::await_status::ready \&\& !ctx.done()) return;|  if (status == detail::await_status::ready) return;|stress_semaphore_stress_test|*CanceledBefore*"
  "a skipped task goes uncounted|patterns/detail/group_core.cc|    record_skip();|    (void)0;|stress_group_stress_test|*"
  "fail_fast runs successors of a failed node|scheduler/task_graph.cc|      if (r.policy == failure_policy::fail_fast \&\&|      if (false \&\&|stress_graph_stress_test|*"
)

rm -rf "$WORK/src"
mkdir -p "$WORK/src"
git -C "$REPO" ls-files -z | (cd "$REPO" && xargs -0 cp --parents -t "$WORK/src")
cmake -S "$WORK/src" --preset chaos -B "$WORK/build" -DTBBX_WERROR=OFF >/dev/null

survived=0
for m in "${MUTANTS[@]}"; do
  IFS='|' read -r name file from to target filter <<<"$m"
  [[ "$name" == *"${TBBX_MUTANT:-}"* ]] || continue  # TBBX_MUTANT: a name part
  from="${from//__WORK__/child->work_next_ = path;}"
  to="${to//__WORK__/child->work_next_ = path;}"
  cp "$REPO/$file" "$WORK/src/$file"
  FROM="$from" TO="$to" perl -0pi -e '
    my ($f, $t) = ($ENV{FROM}, $ENV{TO});
    $f =~ s/\\n/\n/g; $t =~ s/\\n/\n/g; $f =~ s/\\&/&/g; $t =~ s/\\&/&/g;
    my $n = s/\Q$f\E/$t/; die "mutant did not apply\n" unless $n;' "$WORK/src/$file" ||
    { echo "mutants: '$name' no longer applies to $file: update tools/mutants.sh" >&2; exit 2; }
  cmake --build "$WORK/build" --target "$target" -j "${TBBX_JOBS:-$(nproc)}" >"$WORK/build.log" 2>&1 ||
    { tail -20 "$WORK/build.log"; echo "mutants: '$name' does not build" >&2; exit 2; }
  rc=0
  TBBX_STRESS_SECONDS="$SECONDS_PER_RUN" timeout 120 "$WORK/build/tests/$target" \
    --gtest_filter="$filter" >"$WORK/$target.log" 2>&1 || rc=$?
  cp "$REPO/$file" "$WORK/src/$file"
  if [[ $rc -eq 0 ]]; then
    echo "SURVIVED  $name ($target passed)"
    survived=$((survived + 1))
  elif [[ $rc -eq 124 ]]; then
    echo "caught    $name ($target hung: killed after 120 s)"
  else
    echo "caught    $name ($target: $(grep -m1 -E 'Failure|failed:|Expected|Value of' "$WORK/$target.log" | cut -c1-100))"
  fi
done
[[ $survived -eq 0 ]]
