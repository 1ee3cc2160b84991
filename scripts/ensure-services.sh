#!/usr/bin/env bash
# Makes sure the local RabbitMQ (with the AMQP 1.0 plugin) and Redis answer; starts them if not.
set -euo pipefail

wait_for() {  # wait_for NAME SECONDS CMD...
  local name="$1" seconds="$2"; shift 2
  for _ in $(seq "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "$name does not answer after ${seconds}s" >&2
  return 1
}

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
wait_for redis 30 redis-cli -h 127.0.0.1 -p 6379 ping

if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  echo "starting rabbitmq"
  rabbitmq-server -detached
fi
wait_for rabbitmq 120 rabbitmq-diagnostics -q check_port_connectivity
if ! rabbitmq-plugins list -e -m 2>/dev/null | grep -qx rabbitmq_amqp1_0; then
  rabbitmq-plugins enable rabbitmq_amqp1_0
fi
wait_for "rabbitmq amqp1.0" 60 rabbitmq-diagnostics -q check_port_listener 5672
echo "rabbitmq and redis answer; rabbitmq_amqp1_0 enabled"
