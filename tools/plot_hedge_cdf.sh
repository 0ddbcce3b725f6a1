#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# plot_hedge_cdf.sh CSV PNG: draw the latency tail of the hedging benchmark.
#
# CSV is what bench/hedge_benchmark writes with TBBX_HEDGE_CSV=... (one
# `row,latency_us` line per request). The plot shows, for the bimodal
# workload, the fraction of requests slower than each latency (log-log),
# which is where hedging shows: the 2% tail at 10 ms moves to ~0.3 ms.
set -euo pipefail
csv="$1"
png="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

rows=(NoHedge FixedHedge AdaptiveHedger RawOneTbb)
titles=("no hedge" "tbbx::hedge (delay = p95)" "tbbx::hedger (adaptive, 5% budget)" "hand-written oneTBB hedge")
for variant in sequential concurrent; do
  for row in "${rows[@]}"; do
    # Sorted latencies with the fraction of requests at least that slow.
    grep "^$row/bimodal/$variant," "$csv" | cut -d, -f2 | sort -g |
      awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], (NR - i + 1) / NR }' \
        >"$work/$row-$variant.dat"
  done
done

# The sample sizes, for the titles: p99.9 needs many requests to mean much.
count() { wc -l <"$work/NoHedge-$1.dat" | tr -d ' '; }
sequential_n="$(count sequential)"
concurrent_n="$(count concurrent)"
ymin="$(awk -v n="$sequential_n" 'BEGIN { print 0.8 / n }')"  # shows the slowest

plot_panel() {  # variant title
  local variant="$1" title="$2" i sep=""
  printf 'set title "%s"\n' "$title"
  printf 'plot '
  for i in "${!rows[@]}"; do
    printf '%s"%s" using 1:2 with lines lw 2 title "%s"' "$sep" \
      "$work/${rows[$i]}-$variant.dat" "${titles[$i]}"
    sep=", "
  done
  printf '\n'
}

{
  cat <<GNUPLOT
set terminal pngcairo size 1100,480 font "sans,10"
set output "$png"
set multiplot layout 1,2 title "Hedging a CPU workload: 98% of attempts take 100 us, 2% take 10 ms (2 cores)"
set logscale xy
set xlabel "latency (us)"
set ylabel "fraction of requests slower"
set xrange [50:20000]
set yrange [$ymin:1.2]
set grid
set key top right
GNUPLOT
  plot_panel sequential "$sequential_n sequential requests"
  plot_panel concurrent "2 clients, $concurrent_n requests in all"
  echo "unset multiplot"
} >"$work/plot.gp"
gnuplot "$work/plot.gp"
echo "wrote $png"
