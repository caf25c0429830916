#!/usr/bin/env bash
# Runs every test: the packages first, then the long end-to-end package (internal/e2e) with a line per test
# as it starts and ends so a reader sees progress. The e2e package's full output goes to a log file, printed
# when it fails. The tests on the Redis Cluster (redisdbtest.NewCluster) run against the cluster of
# scripts/redis-cluster.sh (REDIS_CLUSTER_URL) and fail, rather than skip, when it is down
# (REDIS_CLUSTER_REQUIRED=1; scripts/services.sh starts it). Usage: scripts/test.sh [go test flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
REDIS_CLUSTER_URL=${REDIS_CLUSTER_URL:-$(bash scripts/redis-cluster.sh url)}
export REDIS_CLUSTER_URL REDIS_CLUSTER_REQUIRED=${REDIS_CLUSTER_REQUIRED:-1}
flags=("$@")
[ ${#flags[@]} -gt 0 ] || flags=(-count=1 -timeout 14m)

mapfile -t pkgs < <($GO list ./... | grep -v '/internal/e2e$')
$GO test "${flags[@]}" "${pkgs[@]}"

log=$(mktemp "${TMPDIR:-/tmp}/e2e-test.XXXXXX.log")
echo "e2e: running internal/e2e (progress below, full log: $log)"
start=$(date +%s)
set +e
$GO test "${flags[@]}" -v ./internal/e2e 2>&1 | tee "$log" |
  grep --line-buffered -E '^(=== RUN   Test[^/]*$|--- (PASS|FAIL|SKIP): Test[^/]*$|ok |FAIL|panic:)' |
  while IFS= read -r line; do
    case $line in
    "ok "* | FAIL*) echo "$line" ;;
    *) printf '[%4ds] %s\n' $(($(date +%s) - start)) "$line" ;;
    esac
  done
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -eq 0 ]; then
  rm -f "$log"
  exit 0
fi
echo "e2e: FAILED; the failing tests' output:" >&2
grep -v -E '^(=== (RUN|PAUSE|CONT|NAME)|--- PASS|    --- PASS)' "$log" | tail -n 400 >&2
# The processes' logs that a failing test prints can push its reasons out of a reader's view: they come
# again last, one block per failed assertion (testify's Error Trace, Error and Messages lines).
echo "e2e: why (the failed assertions again):" >&2
grep -E '^--- FAIL|^[[:space:]]+(Error Trace|Error|Test|Messages):' "$log" | cut -c1-600 | tail -n 80 >&2
exit "$rc"
