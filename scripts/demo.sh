#!/usr/bin/env bash
# make demo: runs the whole pipeline against the built-in DMarket simulator (dmarket-sim → parser →
# RabbitMQ → worker → Redis) on this machine, waits until offers are found, prints them and stops
# everything. Needs only the binaries in bin/ (make build), Redis and RabbitMQ; no token, keys or internet.
#
# DEMO_REDIS_URL (default redis://127.0.0.1:6379/15: this database is emptied first; the demo holds the
# integration tests' lock on it while it runs) and DEMO_RABBITMQ_URL
# (default amqp://guest:guest@127.0.0.1:5672/) choose the services; DEMO_TITLES the catalogue size;
# DEMO_TIMEOUT how long to wait for offers (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
REDIS_URL=${DEMO_REDIS_URL:-redis://127.0.0.1:6379/15}
RABBITMQ_URL=${DEMO_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
TITLES=${DEMO_TITLES:-80}
TIMEOUT=${DEMO_TIMEOUT:-120}
SIM_ADDR=${DEMO_SIM_ADDR:-127.0.0.1:18090}
LOGS=$(mktemp -d)
export REDIS_URL RABBITMQ_URL

pids=()
lock=""
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # Release the test-database lock only if it is still ours.
  if [ -n "$lock" ]; then
    redis-cli -u "${REDIS_URL%/*}/0" eval "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0" 1 "$lock" "demo-$$" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT INT TERM

for b in dmarket-sim parser worker bot; do
  [ -x "$BIN/$b" ] || { echo "demo: $BIN/$b missing: run make build" >&2; exit 1; }
done
if ! "$BIN/bot" offers -n 1 >/dev/null 2>"$LOGS/check.err"; then
  echo "demo: Redis is not reachable at $REDIS_URL:" >&2; cat "$LOGS/check.err" >&2; exit 1
fi
# The default database 15 is also one the integration tests hand out (internal/platform/redisdb/redisdbtest locks
# them in database 0): take the same lock so that a demo and a test run never empty each other's data.
if [ -z "${DEMO_REDIS_URL:-}" ] && command -v redis-cli >/dev/null; then
  if [ "$(redis-cli -u "${REDIS_URL%/*}/0" set redisdbtest:lock:15 "demo-$$" NX EX 900)" != "OK" ]; then
    echo "demo: Redis database 15 is in use by a test run; wait for it or set DEMO_REDIS_URL to another database" >&2
    exit 1
  fi
  lock=redisdbtest:lock:15
fi
if command -v redis-cli >/dev/null; then redis-cli -u "$REDIS_URL" flushdb >/dev/null; fi
# Where the demo writes, for the messages: the URL with any password masked.
REDIS_SHOWN=$(sed -E 's#//[^@/]*@#//****@#' <<<"$REDIS_URL")
RABBITMQ_SHOWN=$(sed -E 's#//[^@/]*@#//****@#' <<<"$RABBITMQ_URL")
echo "demo: writing to Redis $REDIS_SHOWN (emptied first) through RabbitMQ $RABBITMQ_SHOWN"

echo "demo: starting the DMarket simulator ($TITLES titles) on $SIM_ADDR"
"$BIN/dmarket-sim" -addr "$SIM_ADDR" -titles "$TITLES" -public-rate 50 -deal-share 0.3 -stable-share 0.5 >"$LOGS/sim.out" 2>"$LOGS/sim.log" &
pids+=($!)
for _ in $(seq 1 100); do grep -q '^DMARKET_SECRET_KEY=' "$LOGS/sim.out" 2>/dev/null && break; sleep 0.1; done
# The simulator prints DMARKET_API_URL and a demo key pair as environment assignments.
set -a; . "$LOGS/sim.out"; set +a

common=(LOG_LEVEL=warn DMARKET_PROXIES_FILE=/nonexistent PARSER_RATE_PER_IP=50 PARSER_CYCLE_INTERVAL=15s)
echo "demo: starting a worker and the parser (logs in $LOGS)"
env "${common[@]}" HTTP_ADDR=127.0.0.1:18182 "$BIN/worker" >"$LOGS/worker.log" 2>&1 &
pids+=($!)
env "${common[@]}" HTTP_ADDR=127.0.0.1:18181 "$BIN/parser" >"$LOGS/parser.log" 2>&1 &
pids+=($!)

echo "demo: waiting for offers (buy orders arrive after the first crawl, sell history as sales are fetched)"
deadline=$((SECONDS + TIMEOUT))
target=0; history=0
while [ $SECONDS -lt $deadline ]; do
  out=$("$BIN/bot" offers -min-price 0 -limit -100 -n 0 2>/dev/null || true)
  target=$(grep -c ' TARGET ' <<<"$out" || true)
  history=$(grep -c ' HISTORY ' <<<"$out" || true)
  printf '\r  %3ds: %d TARGET and %d HISTORY offers' $((TIMEOUT - deadline + SECONDS)) "$target" "$history"
  if [ "$target" -gt 0 ] && [ "$history" -ge 5 ]; then break; fi
  for p in "${pids[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo; echo "demo: a process exited; logs in $LOGS" >&2; exit 1; }
  done
  sleep 2
done
echo
if [ "$target" -eq 0 ]; then
  echo "demo: no offers within ${TIMEOUT}s; logs in $LOGS" >&2
  exit 1
fi
echo
echo "Profitable offers (bot offers -min-price 0 -limit 0):"
"$BIN/bot" offers -min-price 0 -limit 0 -n 20
echo
echo "Every offer, best first (bot offers -min-price 0 -limit -100 -n 10):"
"$BIN/bot" offers -min-price 0 -limit -100 -n 10
echo
echo "demo: the offers stay in Redis $REDIS_SHOWN until the next demo (or, for the default database 15, a test run) empties it; prices expire after PRICE_TTL (1h)."
echo "demo: see them again with:"
echo "  REDIS_URL='$REDIS_SHOWN' $BIN/bot offers -min-price 0 -limit -100"
if [ "$REDIS_SHOWN" != "$REDIS_URL" ]; then echo "  (put your Redis password in place of ****)"; fi
