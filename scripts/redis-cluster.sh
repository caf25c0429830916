#!/usr/bin/env bash
# Runs a local three-master Redis Cluster for the tests (SPEC §9.3): `start` launches redis-server with
# --cluster-enabled on REDIS_CLUSTER_PORTS (default 7000 7001 7002) in a temporary directory, joins them with
# `redis-cli --cluster create`, and waits until every node reports cluster_state:ok; a healthy cluster already
# on those ports is reused. `stop` shuts the nodes down and removes the directory. `url` prints the
# REDIS_URL of the cluster in go-redis' cluster form (redis://host:port?addr=host:port&addr=...).
set -euo pipefail

ports=(${REDIS_CLUSTER_PORTS:-7000 7001 7002})
dirfile=${TMPDIR:-/tmp}/dmarket-monitor-redis-cluster-${ports[0]}.dir
say() { echo "redis-cluster: $*"; }

healthy() {
  for p in "${ports[@]}"; do
    redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
  local masters
  masters=$(redis-cli -p "${ports[0]}" cluster nodes 2>/dev/null | grep -c master || true)
  [ "$masters" -eq "${#ports[@]}" ]
}

url() {
  local u="redis://127.0.0.1:${ports[0]}" sep='?'
  for p in "${ports[@]:1}"; do u+="${sep}addr=127.0.0.1:$p"; sep='&'; done
  echo "$u"
}

start() {
  if healthy; then say "reusing the cluster on ports ${ports[*]}"; return; fi
  local dir
  # A previous start's directory (its nodes are shut down below).
  if [ -f "$dirfile" ]; then rm -rf "$(cat "$dirfile")"; fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/redis-cluster.XXXXXX")
  echo "$dir" >"$dirfile"
  for p in "${ports[@]}"; do
    redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true
    mkdir -p "$dir/$p"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$p" --dir "$dir/$p" \
      --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" --cluster-node-timeout 5000 \
      --save "" --appendonly no --logfile "$dir/$p/redis.log"
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 1 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  local nodes=()
  for p in "${ports[@]}"; do nodes+=("127.0.0.1:$p"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
    { cat "$dir/create.log" >&2; exit 1; }
  for _ in $(seq 1 100); do healthy && break; sleep 0.1; done
  healthy || { echo "redis-cluster: the cluster did not become ready" >&2; exit 1; }
  say "up on ports ${ports[*]} ($(url))"
}

stop() {
  for p in "${ports[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  if [ -f "$dirfile" ]; then rm -rf "$(cat "$dirfile")" "$dirfile"; fi
  say "stopped"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
url) url ;;
*) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
