# shellcheck shell=bash
# Shared helpers for infra/local/*.sh (sourced, not executed).
# Runs Kafka (KRaft, plain JVM) and ClickHouse as plain background processes — no Docker needed.

# --- locations & settings (all overridable through the environment) -------------------------------
# shellcheck disable=SC2034 # used by the scripts that source this file
INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INFRA_DIR/../.." && pwd)"
DATA_DIR="${MANIAC_DATA_DIR:-$REPO_ROOT/.data}"
case "$DATA_DIR" in /*) ;; *) DATA_DIR="$PWD/$DATA_DIR" ;; esac

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx768m -Xms256m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"  # seconds
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"    # seconds before SIGKILL

CLICKHOUSE_HOST=127.0.0.1
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
CLICKHOUSE_START_TIMEOUT="${CLICKHOUSE_START_TIMEOUT:-60}"
CLICKHOUSE_STOP_TIMEOUT="${CLICKHOUSE_STOP_TIMEOUT:-20}"

KAFKA_DIR="$DATA_DIR/kafka"
CLICKHOUSE_DIR="$DATA_DIR/clickhouse"

# --- output ------------------------------------------------------------------------------------------
# Progress goes to stderr so that stdout stays machine-readable (up.sh prints KEY=VALUE lines there).
log() { printf '[%s] %s\n' "${LOG_TAG:-infra}" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# Print the last lines of a log file to stderr (used when something fails to start).
tail_log() {
  local file=$1 lines=${2:-40}
  if [[ -s "$file" ]]; then
    log "---- last $lines lines of $file ----"
    tail -n "$lines" "$file" >&2
    log "---- end of $file ----"
  fi
}

# --- processes & ports -------------------------------------------------------------------------------
# True if something accepts TCP connections on host:port.
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Pid recorded in a pid file if that process is alive and its command line contains $2.
live_pid() {
  local pidfile=$1 pattern=$2 pid
  [[ -r "$pidfile" ]] || return 1
  pid=$(<"$pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern" || return 1
  pid_alive "$pid" || return 1
  echo "$pid"
}

# True if the pid exists and is not a zombie (a killed child of a non-reaping init stays a zombie).
# A multi-threaded process whose main thread exited also shows Z while other threads still run.
pid_alive() {
  local state tasks
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$state" ]] || return 1
  [[ "$state" != Z ]] && return 0
  tasks=$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  ((tasks > 1))
}

# True if the process is stopped (SIGSTOP).
pid_stopped() {
  [[ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" == T ]]
}

# Start a command detached (own session, no inherited stdio) and write its pid to $1.
# Usage: spawn PIDFILE LOGFILE CMD [ARGS...]
spawn() {
  local pidfile=$1 logfile=$2
  shift 2
  rm -f "$pidfile"
  # The inner shell writes its own pid and then exec's the server, so the pid file holds the server's pid.
  # fd 9 (the start/stop lock) is closed so the server does not hold the lock.
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "could not start: $*"
}

# SIGTERM a pid, wait up to $2 seconds, then SIGKILL. A stopped (paused) process is resumed first.
terminate() {
  local pid=$1 timeout=$2 i
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < timeout * 10; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  log "pid $pid still alive after ${timeout}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  die "pid $pid did not exit after SIGKILL"
}

# Wait until a TCP port is closed (after a stop), up to $3 seconds.
wait_port_closed() {
  local host=$1 port=$2 timeout=${3:-10} i
  for ((i = 0; i < timeout * 10; i++)); do
    port_open "$host" "$port" || return 0
    sleep 0.1
  done
  return 1
}

# --- packages ----------------------------------------------------------------------------------------
# Install Debian packages non-interactively (root only); `apt-get update` only if the first attempt fails.
# Output goes to <data dir>/apt.log; its tail is shown on failure.
apt_install() {
  [[ "$(id -u)" == 0 ]] || return 1
  command -v apt-get >/dev/null || return 1
  export DEBIAN_FRONTEND=noninteractive
  local opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  local aptlog="$DATA_DIR/apt.log"
  mkdir -p "$DATA_DIR"
  log "apt-get install $* (log: $aptlog)"
  if apt-get install "${opts[@]}" "$@" >>"$aptlog" 2>&1; then
    return 0
  fi
  log "apt-get install failed; running apt-get update and retrying"
  if apt-get update -q >>"$aptlog" 2>&1 && apt-get install "${opts[@]}" "$@" >>"$aptlog" 2>&1; then
    return 0
  fi
  tail_log "$aptlog" 30
  return 1
}
