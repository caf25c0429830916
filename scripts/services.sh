#!/usr/bin/env bash
# Brings up what the tests need on this machine: Redis on 127.0.0.1:6379, a three-master Redis Cluster on
# 127.0.0.1:7000-7002 (scripts/redis-cluster.sh start; SPEC §9.3), RabbitMQ on 127.0.0.1:5672 (guest/guest),
# and promtool for the alert-rule tests. Installs them with apt when they are missing (saying so), starts
# each service that is down, and waits until all answer. Used by `make test` and by CI (.ci/run); safe to
# run any number of times. `bash scripts/redis-cluster.sh stop` stops the cluster again.
set -euo pipefail

say() { echo "services: $*"; }

need_install=()
command -v redis-server >/dev/null 2>&1 || need_install+=(redis-server)
command -v rabbitmq-server >/dev/null 2>&1 || need_install+=(rabbitmq-server)
# promtool (Debian's prometheus package) checks and unit-tests the alert rules in `make test`.
command -v promtool >/dev/null 2>&1 || need_install+=(prometheus)
if ((${#need_install[@]})); then
  say "installing ${need_install[*]} with apt (not found on this machine)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "services: ${need_install[*]} missing and not root: install them (sudo apt-get install ${need_install[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_install[@]}" >/dev/null
  # Debian's packages start their service on install where an init system runs; nothing else is assumed.
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  say "starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "services: redis did not start" >&2; exit 1; }

# The cluster the tests of redisdbtest.NewCluster use (reused when already healthy).
bash "$(dirname "$0")/redis-cluster.sh" start

if ! rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; then
  say "starting rabbitmq"
  rabbitmq-server -detached || true
  # Right after -detached the node is not registered yet and await_startup fails at once: retry until it
  # answers (about two minutes at most).
  started=false
  for _ in $(seq 1 60); do
    if rabbitmqctl -q await_startup --timeout 10 >/dev/null 2>&1; then started=true; break; fi
    sleep 2
  done
  $started || { echo "services: rabbitmq did not start" >&2; exit 1; }
fi
say "redis, redis cluster and rabbitmq up"
