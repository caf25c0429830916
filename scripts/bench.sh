#!/usr/bin/env bash
# bench.sh — the throughput table of docs/performance.md (make bench), from one run on this machine:
# the worker pipeline (RabbitMQ -> worker -> Redis) beside its ceilings measured in the same run (the
# broker alone, the worker's decoder alone on every core, pipelined redis-benchmark). It ends with one
# line: "pipeline <N> items/s, broker-only <N> items/s, decode-ceiling <N> items/s" (medians of
# BENCH_COUNT runs). The raw `go test -bench` output is kept in BENCH_OUT for benchstat.
# Needs Redis and RabbitMQ on localhost (make services). Takes 2-3 minutes on an idle machine, up to
# about 6 under heavy load.
set -euo pipefail

GO=${GO:-go}
COUNT=${BENCH_COUNT:-3}
OUT=${BENCH_OUT:-$(mktemp -t bench.XXXXXX)}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}

cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)
echo "CPU: ${cpu:-unknown}, $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
: >"$OUT"

run() { # run <label> <go test args...>: progress on stderr, output kept in $OUT
	echo "running $1 ..." >&2
	shift
	"$GO" test -run '^$' "$@" | tee -a "$OUT" | grep -E '^(Benchmark|cpu:|FAIL|panic)' >&2 || true
}

run "pipeline (3 variants x $COUNT)" -bench '^BenchmarkPipeline$/^(prefetch=64|broker-only|schema=1)$' \
	-benchtime "${PIPELINE_BENCHTIME:-300x}" -count "$COUNT" -timeout 7m ./internal/worker
run "bare decode" -bench '^BenchmarkBareDecode$' -benchtime "${DECODE_BENCHTIME:-200x}" -count "$COUNT" \
	-timeout 3m ./internal/worker
run "Redis write of one page" -bench '^BenchmarkWriteListingsPage$' -benchtime 100x -count "$COUNT" \
	-timeout 3m ./internal/pricestore
if grep -q '^FAIL' "$OUT"; then
	echo "a benchmark failed; output in $OUT" >&2
	exit 1
fi

# Pipelined SETs of one key of its own in DB 0 (the tests' databases are left alone), deleted after.
redis_ops=0
if command -v redis-benchmark >/dev/null; then
	redis_ops=$(redis-benchmark -h "$REDIS_HOST" -p "$REDIS_PORT" -n 200000 -P 16 -q --csv \
		SET bench:redis-ceiling x 2>/dev/null | awk -F'"' 'NR>1 || /SET/ {print int($4); exit}')
	redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" DEL bench:redis-ceiling >/dev/null
fi

# median <benchmark name regexp> <metric unit>: the median of that metric over the runs.
median() {
	awk -v name="$1" -v unit="$2" '
		$1 ~ name { for (i = 3; i < NF; i++) if ($(i+1) == unit) v[n++] = $i }
		END {
			if (n == 0) { print 0; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			printf "%.0f", (n % 2) ? v[int(n/2)] : (v[n/2-1] + v[n/2]) / 2
		}' "$OUT"
}
medianf() { # like median with two decimals
	awk -v name="$1" -v unit="$2" '
		$1 ~ name { for (i = 3; i < NF; i++) if ($(i+1) == unit) v[n++] = $i }
		END {
			if (n == 0) { print "-"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			printf "%.2f", (n % 2) ? v[int(n/2)] : (v[n/2-1] + v[n/2]) / 2
		}' "$OUT"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

P='^BenchmarkPipeline/prefetch=64/concurrency=8-'
B='^BenchmarkPipeline/broker-only/prefetch=64/concurrency=8-'
P1='^BenchmarkPipeline/schema=1/prefetch=64/concurrency=8-'
D='^BenchmarkBareDecode/validate-'
D1='^BenchmarkBareDecode/validate/schema=1-'
DP='^BenchmarkBareDecode/validate/parallel-'
J='^BenchmarkBareDecode/encoding-json-'
W='^BenchmarkWriteListingsPage/titles=100-'
WL='^BenchmarkWriteListingsPage/levels=2500-'

pipe=$(median "$P" items/s)
broker=$(median "$B" items/s)
ceiling=$(median "$DP" items/s)

echo
printf '| %-56s | %12s | %11s | %9s | %-34s | %7s |\n' "figure (medians of $COUNT runs)" "items/s" "cpu-µs/item" "B/page" "ceiling (same run)" "share"
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------------------------------------------------" "--------------" "-------------" "-----------" "------------------------------------" "---------"
row() { printf '| %-56s | %12s | %11s | %9s | %-34s | %7s |\n' "$@"; }
row "pipeline, schema 2 (zstd), prefetch 64, concurrency 8" "$pipe" "$(medianf "$P" cpu-µs/item)" "$(median "$P" B/page)" "broker-only $broker" "$(ratio "$pipe" "$broker")"
row "pipeline, schema 1 (raw page), same settings" "$(median "$P1" items/s)" "$(medianf "$P1" cpu-µs/item)" "$(median "$P1" B/page)" "broker-only $broker" "$(ratio "$(median "$P1" items/s)" "$broker")"
row "broker-only (handler does nothing), schema 2" "$broker" "$(medianf "$B" cpu-µs/item)" "$(median "$B" B/page)" "-" "-"
row "decode + validate, schema 2, one goroutine" "$(median "$D" items/s)" "$(medianf "$D" cpu-µs/item)" "-" "decode-ceiling $ceiling" "$(ratio "$(median "$D" items/s)" "$ceiling")"
row "decode + validate, schema 1, one goroutine" "$(median "$D1" items/s)" "$(medianf "$D1" cpu-µs/item)" "-" "decode-ceiling $ceiling" "$(ratio "$(median "$D1" items/s)" "$ceiling")"
row "decode-ceiling: decode + validate, schema 2, all cores" "$ceiling" "$(medianf "$DP" cpu-µs/item)" "-" "-" "-"
row "encoding/json of the raw page, one goroutine" "$(median "$J" items/s)" "$(medianf "$J" cpu-µs/item)" "-" "-" "-"
row "Redis write, page of 100 titles (pricestore)" "$(median "$W" items/s)" "-" "-" "redis-benchmark SET -P16 ${redis_ops} op/s" "$(ratio "$(median "$W" items/s)" "$redis_ops")"
row "Redis write, page of a 2,500-level title" "$(median "$WL" items/s)" "-" "-" "-" "-"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); raw output: $OUT (benchstat $OUT)"
echo "pipeline ${pipe} items/s, broker-only ${broker} items/s, decode-ceiling ${ceiling} items/s"
