#!/usr/bin/env bash
# The test command (`npm test`): makes sure Kafka and ClickHouse are reachable, then runs vitest.
#   scripts/test.sh [vitest args...]     e.g. scripts/test.sh --project unit
# If KAFKA_BROKERS and CLICKHOUSE_URL are both set, they are used as-is; otherwise infra/local/up.sh starts
# (or reuses) the local services and their addresses are exported. The services are left running for fast
# re-runs; set MANIAC_TEST_STOP_INFRA=1 to stop them afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started_infra=0
if [[ -z "${KAFKA_BROKERS:-}" || -z "${CLICKHOUSE_URL:-}" ]]; then
  # up.sh logs to stderr and prints KEY=VALUE lines on stdout.
  settings=$(bash infra/local/up.sh)
  while IFS='=' read -r key value; do
    case "$key" in
      KAFKA_BROKERS | CLICKHOUSE_URL) export "$key=$value" ;;
    esac
  done <<<"$settings"
  started_infra=1
fi
echo "[test] KAFKA_BROKERS=$KAFKA_BROKERS CLICKHOUSE_URL=$CLICKHOUSE_URL" >&2

status=0
npx --no-install vitest run "$@" || status=$?

if [[ "${MANIAC_TEST_STOP_INFRA:-0}" == 1 && "$started_infra" == 1 ]]; then
  bash infra/local/down.sh || true
fi
exit "$status"
