#!/usr/bin/env bash
# Start the local test infrastructure (idempotent): Kafka (KRaft) and ClickHouse as plain processes.
# Progress goes to stderr; stdout gets only the connection settings:
#   KAFKA_BROKERS=127.0.0.1:9092
#   CLICKHOUSE_URL=http://127.0.0.1:8123
# Ports: KAFKA_PORT, KAFKA_CONTROLLER_PORT, CLICKHOUSE_HTTP_PORT, CLICKHOUSE_TCP_PORT. Data: MANIAC_DATA_DIR.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LOG_TAG=up

start=$SECONDS
mkdir -p "$DATA_DIR"
# Both start in parallel (the cold path overlaps the Maven fetch with the apt install).
"$INFRA_DIR/kafka.sh" start &
kafka_job=$!
"$INFRA_DIR/clickhouse.sh" start &
clickhouse_job=$!
kafka_rc=0 clickhouse_rc=0
wait "$kafka_job" || kafka_rc=$?
wait "$clickhouse_job" || clickhouse_rc=$?
((kafka_rc == 0)) || log "Kafka failed to start (exit $kafka_rc)"
((clickhouse_rc == 0)) || log "ClickHouse failed to start (exit $clickhouse_rc)"
((kafka_rc == 0 && clickhouse_rc == 0)) || exit 1

# redis-server is only needed by the multi-instance tests, which start their own throwaway redis-server processes.
if ! command -v redis-server >/dev/null; then
  apt_install redis-server || log "redis-server is not installed (apt-get install redis-server); multi-instance tests will fail"
fi

log "infrastructure ready in $((SECONDS - start))s (data: $DATA_DIR)"
echo "KAFKA_BROKERS=$KAFKA_HOST:$KAFKA_PORT"
echo "CLICKHOUSE_URL=http://$CLICKHOUSE_HOST:$CLICKHOUSE_HTTP_PORT"
