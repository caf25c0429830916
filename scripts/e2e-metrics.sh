#!/usr/bin/env bash
# Metrics exposition check of the real binaries: builds them, starts the DMarket simulator, the parser, a
# worker and the bot on this machine, waits until they are ready and have done real work (a crawl cycle
# published, pages written to Redis), scrapes each /metrics and runs `promtool check metrics` on it, then
# stops everything with SIGTERM. Exits non-zero on any lint problem, unready binary or unclean exit.
#
# Needs Go, Redis and RabbitMQ on localhost, redis-cli, curl and promtool (Debian package `prometheus`);
# rabbitmqctl is used to create a throwaway vhost when E2E_RABBITMQ_URL is not set.
#
# The bot runs with a dummy token against an unreachable local Telegram endpoint (no token and no internet
# needed): it is ready (Redis is its only hard dependency), its Telegram component is degraded and its
# Telegram series stay at zero, but every family it registers is exported and checked.
#
# Variables: BIN (default: a temporary directory), E2E_REDIS_URL (default: a free database 1..15 of
# redis://127.0.0.1:6379, reserved with the same lock keys the Go tests use), E2E_RABBITMQ_URL (default:
# a new vhost on amqp://guest:guest@127.0.0.1:5672/), E2E_TIMEOUT (seconds to wait for each step,
# default 60), E2E_KEEP_LOGS=1 keeps the log directory.
set -euo pipefail
cd "$(dirname "$0")/.."

TIMEOUT=${E2E_TIMEOUT:-60}
WORK=$(mktemp -d)
BIN=${BIN:-$WORK/bin}
failed=0
pids=()
names=()
vhost=""
redis_lock=""

log() { printf 'e2e-metrics: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; failed=1; }

cleanup() {
  local i
  for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" 2>/dev/null || true; done
  if [ -n "$redis_lock" ]; then
    redis-cli -u "$REDIS_URL" flushdb >/dev/null 2>&1 || true
    redis-cli -u "redis://127.0.0.1:6379/0" del "$redis_lock" >/dev/null 2>&1 || true
  fi
  if [ -n "$vhost" ]; then rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true; fi
  if [ "$failed" -ne 0 ] || [ "${E2E_KEEP_LOGS:-0}" = 1 ]; then
    log "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'failed=1; exit 1' INT TERM

for tool in go curl promtool redis-cli; do
  command -v "$tool" >/dev/null || { log "$tool is not installed"; exit 1; }
done

# ops_url NAME: the base URL of NAME's ops server, read from its "ops server listening" log line (the
# binaries listen on port 0, so the kernel picks a free port and nothing can take it in between).
ops_url() {
  local addr
  addr=$(sed -n 's/.*msg="ops server listening" addr=\([^ ]*\).*/\1/p' "$WORK/$1.log" | head -n 1)
  [ -n "$addr" ] && echo "http://$addr"
}

# wait_for DESCRIPTION COMMAND...: runs COMMAND every 100 ms until it succeeds or TIMEOUT passes, and
# fails early when a started process has exited.
wait_for() {
  local what=$1 i
  shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@"; do
    for i in "${!pids[@]}"; do
      if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        log "${names[$i]} exited while waiting for $what; its log:"
        tail -n 30 "$WORK/${names[$i]}.log" >&2
        return 1
      fi
    done
    if [ $SECONDS -ge $deadline ]; then
      log "timed out after ${TIMEOUT}s waiting for $what"
      return 1
    fi
    sleep 0.1
  done
}

ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/readyz")" = 200 ]; }

# metric_positive BASE NAME: the sum of NAME's samples on BASE/metrics is above zero.
metric_positive() {
  curl -sf "$1/metrics" | awk -v n="$2" '
    $1 == n || index($1, n "{") == 1 { s += $NF } END { exit !(s > 0) }'
}

log "building the binaries into $BIN"
go build -o "$BIN/" ./cmd/...

# Redis: a database nobody else holds (the Go tests' lock protocol, DB 0 holds the locks).
if [ -n "${E2E_REDIS_URL:-}" ]; then
  REDIS_URL=$E2E_REDIS_URL
else
  token="e2e-metrics-$$-$RANDOM"
  for db in $(seq 1 15); do
    if [ "$(redis-cli -u redis://127.0.0.1:6379/0 set "redisdbtest:lock:$db" "$token" NX PX 600000)" = OK ]; then
      redis_lock="redisdbtest:lock:$db"
      REDIS_URL="redis://127.0.0.1:6379/$db"
      break
    fi
  done
  [ -n "$redis_lock" ] || { log "no free Redis database"; exit 1; }
  redis-cli -u "$REDIS_URL" flushdb >/dev/null
fi
# RabbitMQ: a vhost of our own so that no other consumer sees the pages.
if [ -n "${E2E_RABBITMQ_URL:-}" ]; then
  RABBITMQ_URL=$E2E_RABBITMQ_URL
else
  command -v rabbitmqctl >/dev/null || { log "rabbitmqctl is not installed: set E2E_RABBITMQ_URL"; exit 1; }
  vhost="e2e-metrics-$$-$RANDOM"
  rabbitmqctl -q add_vhost "$vhost" >/dev/null
  rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null
  RABBITMQ_URL="amqp://guest:guest@127.0.0.1:5672/$vhost"
fi
export REDIS_URL RABBITMQ_URL

# start NAME VAR=VALUE...: runs $BIN/NAME with the extra environment in the background, its output in
# $WORK/NAME.log.
start() {
  local name=$1
  shift
  env "$@" "$BIN/$name" >"$WORK/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
}

log "starting the DMarket simulator"
"$BIN/dmarket-sim" -addr 127.0.0.1:0 -titles 20 -public-rate -1 -public-other-rate -1 \
  >"$WORK/sim.env" 2>"$WORK/dmarket-sim.log" &
pids+=($!)
names+=(dmarket-sim)
wait_for "the simulator's address" grep -q '^DMARKET_SECRET_KEY=' "$WORK/sim.env"
# The simulator prints DMARKET_API_URL and its demo key pair as environment assignments.
set -a
# shellcheck disable=SC1091
. "$WORK/sim.env"
set +a

common=(LOG_LEVEL=info LOG_FORMAT=text SHUTDOWN_TIMEOUT=5s HTTP_ADDR=127.0.0.1:0)
log "starting parser, worker and bot; logs in $WORK"
start parser "${common[@]}" DMARKET_PROXIES_FILE=/nonexistent PARSER_RATE_PER_IP=50 PARSER_CYCLE_INTERVAL=2s
start worker "${common[@]}"
start bot "${common[@]}" TELEGRAM_API_TOKEN=000000:e2e-dummy-token \
  TELEGRAM_API_ENDPOINT='http://127.0.0.1:9/bot%s/%s' BOT_POLL_INTERVAL=1s
for b in parser worker bot; do
  wait_for "$b's ops address" ops_url "$b" >/dev/null
  printf -v "$b" '%s' "$(ops_url "$b")"
  log "$b serves $(ops_url "$b")"
done

for b in parser worker bot; do
  wait_for "$b to be ready" ready "${!b}"
done
wait_for "a crawl cycle" metric_positive "$parser" dmarket_crawler_cycles_total
wait_for "pages written to Redis" metric_positive "$worker" dmarket_worker_items_processed_total

for b in parser worker bot; do
  out="$WORK/$b.metrics"
  if ! curl -sf -H 'Accept: text/plain; version=0.0.4' -o "$out" "${!b}/metrics"; then
    fail "$b: GET /metrics failed"
    continue
  fi
  families=$(grep -c '^# TYPE ' "$out" || true)
  if problems=$(promtool check metrics <"$out" 2>&1); then
    log "$b: $families metric families, promtool check metrics: ok"
  else
    fail "$b: promtool check metrics:"
    printf '%s\n' "$problems" >&2
  fi
done

log "stopping everything"
for i in "${!pids[@]}"; do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
for i in "${!pids[@]}"; do
  code=0
  wait "${pids[$i]}" || code=$?
  if [ "$code" -ne 0 ]; then fail "${names[$i]} exited with $code after SIGTERM"; fi
done
pids=()
names=()

if [ "$failed" -ne 0 ]; then
  log "FAILED"
  exit 1
fi
log "PASS"
