#!/usr/bin/env bash
# Local ClickHouse server as a plain process (config in infra/local/clickhouse/, data under .data/).
#   infra/local/clickhouse.sh start|stop|restart|kill|status
# See infra/README.md for ports and environment variables.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LOG_TAG=clickhouse

LOG_DIR="$CLICKHOUSE_DIR/logs"
PID_FILE="$CLICKHOUSE_DIR/clickhouse.pid"
URL="http://$CLICKHOUSE_HOST:$CLICKHOUSE_HTTP_PORT"

clickhouse_pid() { live_pid "$PID_FILE" 'clickhouse'; }

lock() {
  mkdir -p "$CLICKHOUSE_DIR"
  exec 9>"$CLICKHOUSE_DIR/.lock"
  flock -w 300 9 || die "timed out waiting for $CLICKHOUSE_DIR/.lock"
}

# GET a path from the HTTP interface and print the body (curl if present, else bash's /dev/tcp).
http_get() {
  if command -v curl >/dev/null; then
    curl -fsS --max-time 5 "$URL$1" 2>/dev/null
    return
  fi
  (
    exec 3<>"/dev/tcp/$CLICKHOUSE_HOST/$CLICKHOUSE_HTTP_PORT"
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" "$CLICKHOUSE_HOST" >&3
    line='' body=0
    IFS= read -r -t 5 line <&3 && [[ "$line" == *" 200 "* ]] || exit 1
    while IFS= read -r -t 5 line <&3; do
      if ((body)); then printf '%s\n' "$line"; elif [[ "$line" == $'\r' ]]; then body=1; fi
    done
  ) 2>/dev/null
}

# The server command: Debian's clickhouse-server, or the single `clickhouse` binary of official builds.
SERVER_CMD=()
find_server() {
  if [[ -n "${CLICKHOUSE_BIN:-}" ]]; then
    SERVER_CMD=("$CLICKHOUSE_BIN")
    [[ "$(basename "$CLICKHOUSE_BIN")" == clickhouse ]] && SERVER_CMD+=(server)
    return 0
  fi
  local bin
  for bin in clickhouse-server /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
    if command -v "$bin" >/dev/null; then
      SERVER_CMD=("$(command -v "$bin")")
      return 0
    fi
  done
  if command -v clickhouse >/dev/null; then
    SERVER_CMD=("$(command -v clickhouse)" server)
    return 0
  fi
  return 1
}

require_server() {
  find_server && return 0
  log "clickhouse-server not found; installing Debian's clickhouse-server (one-time)"
  if apt_install --no-install-recommends clickhouse-server clickhouse-client; then
    # On machines with systemd the package starts its own service on 8123/9000: we run our own instance.
    if command -v systemctl >/dev/null && systemctl is-active --quiet clickhouse-server 2>/dev/null; then
      log "stopping and disabling the packaged clickhouse-server service"
      systemctl disable --now clickhouse-server >&2 || true
    fi
    find_server && return 0
  fi
  die "clickhouse-server is not installed and could not be installed automatically (needs root + apt).
  Install it, then re-run:
    Debian/Ubuntu:  sudo apt-get install -y clickhouse-server clickhouse-client
    or any release: curl https://clickhouse.com/ | sh   (then CLICKHOUSE_BIN=\$PWD/clickhouse)
  or point CLICKHOUSE_URL at a running server."
}

wait_ready() {
  local pid=$1 deadline=$((SECONDS + CLICKHOUSE_START_TIMEOUT))
  until [[ "$(http_get /ping || true)" == Ok.* ]]; do
    if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
      tail_log "$LOG_DIR/clickhouse-server.err.log" 40
      tail_log "$LOG_DIR/clickhouse.out" 20
      die "clickhouse-server exited during startup (logs: $LOG_DIR)"
    fi
    if ((SECONDS >= deadline)); then
      tail_log "$LOG_DIR/clickhouse-server.err.log" 40
      tail_log "$LOG_DIR/clickhouse.out" 20
      die "no 'Ok.' from $URL/ping within ${CLICKHOUSE_START_TIMEOUT}s (logs: $LOG_DIR)"
    fi
    sleep 0.2
  done
  local version
  version=$(http_get '/?query=SELECT%20version()' || true)
  [[ -n "$version" ]] || die "$URL answers /ping but not SELECT version()"
  log "ready: ClickHouse $version at $URL"
}

cmd_start() {
  lock
  local pid
  if pid=$(clickhouse_pid); then
    kill -CONT "$pid" 2>/dev/null || true
    wait_ready "$pid"
    log "already running (pid $pid)"
    return 0
  fi
  if port_open "$CLICKHOUSE_HOST" "$CLICKHOUSE_HTTP_PORT"; then
    log "port $CLICKHOUSE_HTTP_PORT is in use by a process not started by these scripts; using it as ClickHouse"
    wait_ready ""
    return 0
  fi
  port_open "$CLICKHOUSE_HOST" "$CLICKHOUSE_TCP_PORT" &&
    die "TCP port $CLICKHOUSE_TCP_PORT is in use by another process (set CLICKHOUSE_TCP_PORT)"

  local start=$SECONDS
  require_server
  mkdir -p "$CLICKHOUSE_DIR/data/tmp" "$CLICKHOUSE_DIR/data/user_files" "$CLICKHOUSE_DIR/data/format_schemas" "$LOG_DIR"
  # Consumed by from_env="..." in infra/local/clickhouse/config.xml.
  export MANIAC_CH_PATH="$CLICKHOUSE_DIR/data/"
  export MANIAC_CH_TMP_PATH="$CLICKHOUSE_DIR/data/tmp/"
  export MANIAC_CH_USER_FILES_PATH="$CLICKHOUSE_DIR/data/user_files/"
  export MANIAC_CH_FORMAT_SCHEMA_PATH="$CLICKHOUSE_DIR/data/format_schemas/"
  export MANIAC_CH_LOG="$LOG_DIR/clickhouse-server.log"
  export MANIAC_CH_ERRORLOG="$LOG_DIR/clickhouse-server.err.log"
  export MANIAC_CH_HTTP_PORT="$CLICKHOUSE_HTTP_PORT"
  export MANIAC_CH_TCP_PORT="$CLICKHOUSE_TCP_PORT"
  log "starting ClickHouse on $URL (tcp :$CLICKHOUSE_TCP_PORT, data $CLICKHOUSE_DIR/data)"
  echo "---- start $(date -u +%FT%TZ) ----" >>"$LOG_DIR/clickhouse.out"
  # Started from the data folder so that any relative path the server may use stays there.
  (cd "$CLICKHOUSE_DIR" && spawn "$PID_FILE" "$LOG_DIR/clickhouse.out" \
    "${SERVER_CMD[@]}" --config-file="$INFRA_DIR/clickhouse/config.xml")
  pid=$(<"$PID_FILE")
  wait_ready "$pid"
  log "started (pid $pid) in $((SECONDS - start))s"
}

cmd_stop() {
  local signal=${1:-TERM} pid
  lock
  if ! pid=$(clickhouse_pid); then
    rm -f "$PID_FILE"
    if port_open "$CLICKHOUSE_HOST" "$CLICKHOUSE_HTTP_PORT"; then
      die "port $CLICKHOUSE_HTTP_PORT is served by a process not started by these scripts; not stopping it"
    fi
    log "not running"
    return 0
  fi
  local start=$SECONDS
  if [[ "$signal" == KILL ]]; then
    kill -KILL "$pid" 2>/dev/null || true
    terminate "$pid" 5
  else
    terminate "$pid" "$CLICKHOUSE_STOP_TIMEOUT"
  fi
  rm -f "$PID_FILE"
  wait_port_closed "$CLICKHOUSE_HOST" "$CLICKHOUSE_HTTP_PORT" 10 || die "port $CLICKHOUSE_HTTP_PORT still open after stop"
  log "stopped (pid $pid, SIG$signal) in $((SECONDS - start))s"
}

# Exit status: 0 running, 3 not running.
cmd_status() {
  local pid
  if pid=$(clickhouse_pid); then
    echo "running (pid $pid) on $URL"
    return 0
  fi
  if port_open "$CLICKHOUSE_HOST" "$CLICKHOUSE_HTTP_PORT"; then
    echo "running (external process, no pid file) on $URL"
    return 0
  fi
  echo "stopped"
  return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop TERM ;;
  kill) cmd_stop KILL ;;
  restart)
    cmd_stop TERM
    cmd_start
    ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 {start|stop|restart|kill|status}" >&2
    exit 64
    ;;
esac
