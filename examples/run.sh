#!/usr/bin/env bash
# Runs the client examples against a real gateway: starts a mock OpenAI upstream and the gateway (all services,
# from source), creates a project and a key with the CLI, then runs
#   - examples/python/maniac_client.py with the published `maniac` client (latest 0.5.x, then 0.4.0), and
#   - examples/vercel-ai/index.ts with the Vercel AI SDK's OpenAI-compatible provider.
# Exits non-zero when an example fails. A client whose package cannot be installed (no PyPI / npm registry) is
# skipped with a message; if neither installs, the script exits 0.
#
#   bash examples/run.sh
#
# Uses KAFKA_BROKERS / CLICKHOUSE_URL when both are set, otherwise starts (or reuses) the local services.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

log() { printf '[examples] %s\n' "$*" >&2; }

data="${MANIAC_DATA_DIR:-.data}/examples"
mkdir -p "$data"
work=$(mktemp -d "${TMPDIR:-/tmp}/maniac-examples.XXXXXX")
pids=()
database=""

cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do
    # Each background process leads its own process group (setsid): stop the group it started.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  if [[ -n "$database" && -n "${CLICKHOUSE_URL:-}" ]]; then
    curl -sf "$CLICKHOUSE_URL/" --data-binary "DROP DATABASE IF EXISTS $database" >/dev/null || true
  fi
  if [[ $rc != 0 && -f "$work/gateway.log" ]]; then
    log "last lines of the gateway log:"
    tail -n 30 "$work/gateway.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# --- client packages (skip what cannot be installed) -------------------------------------------------------
python_ok=0
venv="$data/venv"
if command -v python3 >/dev/null; then
  if { [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" >"$work/venv.log" 2>&1; } &&
    "$venv/bin/pip" install -q --disable-pip-version-check --upgrade -r examples/python/requirements.txt \
      >"$work/pip.log" 2>&1; then
    python_ok=1
  else
    log "SKIP python example: could not install the maniac client from PyPI"
    tail -n 5 "$work/pip.log" "$work/venv.log" 2>/dev/null >&2 || true
  fi
else
  log "SKIP python example: no python3"
fi

node_ok=0
if (cd examples/vercel-ai && npm ci --no-audit --no-fund --loglevel=error) >"$work/npm.log" 2>&1; then
  node_ok=1
else
  log "SKIP vercel-ai example: could not install ai / @ai-sdk/openai-compatible from npm"
  tail -n 5 "$work/npm.log" >&2 || true
fi

if [[ $python_ok == 0 && $node_ok == 0 ]]; then
  log "no client package could be installed: nothing to run (skipped)"
  exit 0
fi

# --- infrastructure, mock upstream, gateway -----------------------------------------------------------------
if [[ -z "${KAFKA_BROKERS:-}" || -z "${CLICKHOUSE_URL:-}" ]]; then
  settings=$(bash infra/local/up.sh)
  while IFS='=' read -r k v; do
    case "$k" in KAFKA_BROKERS | CLICKHOUSE_URL) export "$k=$v" ;; esac
  done <<<"$settings"
fi

tsx="$root/node_modules/.bin/tsx"
run_id="$(date +%s)_$RANDOM"
database="examples_$run_id"
export MANIAC_TOPIC_PREFIX="examples-$run_id."
export CLICKHOUSE_DATABASE="$database"
export MANIAC_SPOOL_DIR="$work/spool"
export MANIAC_NO_BOOTSTRAP=1
export LOG_LEVEL="${LOG_LEVEL:-warn}"
export OPENAI_API_KEY=sk-mock
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore::UserWarning}"

# wait_for FILE PATTERN SECONDS: until a line of FILE matches PATTERN.
wait_for() {
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      log "timed out waiting for '$2' in $1"
      cat "$1" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

setsid "$tsx" --conditions=development examples/mock-upstream.ts >"$work/mock.log" 2>&1 &
pids+=($!)
wait_for "$work/mock.log" '^OPENAI_BASE_URL=' 30
OPENAI_BASE_URL=$(sed -n 's/^OPENAI_BASE_URL=//p' "$work/mock.log")
export OPENAI_BASE_URL

PORT=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
export PORT HOST=127.0.0.1
base="http://127.0.0.1:$PORT"

cli() { "$tsx" --conditions=development packages/cli/src/main.ts "$@"; }
cli projects create examples >/dev/null
key=$(cli keys create --project examples --name examples 2>/dev/null)

setsid "$tsx" --conditions=development packages/cli/src/main.ts start >"$work/gateway.log" 2>&1 &
pids+=($!)
deadline=$((SECONDS + 90))
until curl -sf "$base/readyz" >/dev/null 2>&1; do
  if ((SECONDS > deadline)); then
    log "gateway not ready on $base within 90 s"
    exit 1
  fi
  sleep 0.3
done
log "gateway ready on $base (mock upstream $OPENAI_BASE_URL)"

# --- the examples -------------------------------------------------------------------------------------------
export MANIAC_API_KEY="$key" MANIAC_BASE_URL="$base"
failed=0
if [[ $python_ok == 1 ]]; then
  log "python: maniac $("$venv/bin/python" -c 'import maniac; print(maniac.__version__)')"
  "$venv/bin/python" examples/python/maniac_client.py || failed=1
  if "$venv/bin/pip" install -q --disable-pip-version-check 'maniac==0.4.0' >"$work/pip04.log" 2>&1; then
    log "python: maniac 0.4.0"
    "$venv/bin/python" examples/python/maniac_client.py || failed=1
  else
    log "SKIP python example with maniac 0.4.0: could not install it"
  fi
fi
if [[ $node_ok == 1 ]]; then
  log "vercel-ai: ai $(node -p "require('./examples/vercel-ai/node_modules/ai/package.json').version")"
  "$tsx" examples/vercel-ai/index.ts || failed=1
fi

if [[ $failed != 0 ]]; then
  log "FAILED"
  exit 1
fi
log "all examples passed"
