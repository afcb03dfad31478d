#!/usr/bin/env bash
# API fuzzing with schemathesis against the contract (schemas/spec/openapi.json), all four operations, with a valid
# API key, against the composed gateway (ingest-api + writer + query-api on real Kafka and ClickHouse) in front
# of a mock upstream (packages/cli/test/fuzz/fuzz-server.ts). Fails on any 5xx, any response that violates the
# spec (status code, content type, headers, body schema), any transport error (a crash), or fewer cases than
# FUZZ_CASES (default 10000). Two schemathesis processes run side by side (one is GIL-bound to a core):
# create then get-by-id in one lane, list then register in the other (~4 minutes on 2 cores).
#   scripts/fuzz.sh                      FUZZ_CASES=2000 scripts/fuzz.sh     FUZZ_SEED=42 scripts/fuzz.sh
# schemathesis is installed from PyPI into .data/venv (pinned). If the index cannot be reached at all, the run is
# skipped with a message (exit 0); any other failure fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION=4.32.5
CASES=${FUZZ_CASES:-10000}
SEED=${FUZZ_SEED:-$RANDOM}
VENV=${FUZZ_VENV:-.data/venv}
OUT=.data/fuzz
log() { printf '[fuzz] %s\n' "$*" >&2; }

# --- schemathesis in a venv ----------------------------------------------------------------------------------
if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != *"$SCHEMATHESIS_VERSION"* ]]; then
  command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 lacks ensurepip until python3-venv is installed.
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
      log "installing python3-venv"
      (apt-get install -y -q python3-venv >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null)) ||
        { log "could not install python3-venv"; exit 1; }
      rm -rf "$VENV"
      python3 -m venv "$VENV"
    else
      log "python3 -m venv failed (install python3-venv)"
      exit 1
    fi
  fi
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >"$VENV.pip.log" 2>&1; then
    if ! "$VENV/bin/pip" download -q --no-deps --disable-pip-version-check -d "$VENV.probe" "pip" >/dev/null 2>&1; then
      log "SKIPPED: the Python package index is unreachable, so schemathesis cannot be installed (see $VENV.pip.log)"
      exit 0
    fi
    tail -n 20 "$VENV.pip.log" >&2
    log "pip install schemathesis failed although the index is reachable"
    exit 1
  fi
fi

# --- infrastructure and the gateway under test ---------------------------------------------------------------
if [[ -z "${KAFKA_BROKERS:-}" || -z "${CLICKHOUSE_URL:-}" ]]; then
  settings=$(bash infra/local/up.sh)
  while IFS='=' read -r key value; do
    case "$key" in KAFKA_BROKERS | CLICKHOUSE_URL) export "$key=$value" ;; esac
  done <<<"$settings"
fi
rm -rf "$OUT"
mkdir -p "$OUT"
ready="$OUT/server.json"
TEST_LOG_LEVEL=error node --import tsx --conditions=development packages/cli/test/fuzz/fuzz-server.ts "$ready" \
  >"$OUT/server.log" 2>&1 &
server=$!
cleanup() {
  kill -TERM "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap cleanup EXIT
for ((i = 0; i < 600; i++)); do
  [[ -s "$ready" ]] && break
  kill -0 "$server" 2>/dev/null || { cat "$OUT/server.log" >&2; log "the gateway exited during start-up"; exit 1; }
  sleep 0.2
done
[[ -s "$ready" ]] || { log "the gateway did not start within 120 s"; exit 1; }
field() { python3 -c "import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(','.join(v) if isinstance(v, list) else v)" "$ready" "$1"; }
URL=$(field url)
KEY=$(field key)
export FUZZ_IDS
FUZZ_IDS=$(field ids)
export SCHEMATHESIS_HOOKS=scripts/fuzz/hooks.py
log "gateway at $URL; target $CASES cases, seed $SEED"

# --- fuzz ------------------------------------------------------------------------------------------------------
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
# Fuzzing generates --max-examples cases per operation (the coverage phase adds its own on top). Generation speed
# differs a lot per operation (measured: chat ~45/s, list ~35/s, register ~18/s, get-by-id ~2.5/s: hypothesis
# rejects most strings as path parameters), so the budget is split unevenly to finish in a few minutes.
chat_n=$((CASES * 52 / 100))
list_n=$((CASES * 38 / 100))
register_n=$((CASES * 5 / 100))
get_n=$((CASES * 15 / 1000 + 1))
start=$SECONDS
st() {
  local op=$1 n=$2
  "$VENV/bin/schemathesis" run schemas/spec/openapi.json --url "$URL" -H "Authorization: Bearer $KEY" \
    --checks "$CHECKS" --phases coverage,fuzzing --max-examples "$n" --workers 1 --seed "$SEED" \
    --no-shrink --suppress-health-check all --generation-database none --request-timeout 30 \
    --include-operation-id "$op" --report json --report-dir "$OUT/$op" >"$OUT/$op.log" 2>&1
}
OPS=(chat_completions_create chat_completions_list chat_completions_register chat_completions_retrieve)
# Two lanes side by side (one schemathesis process is GIL-bound to a core).
(
  rc=0
  st chat_completions_create "$chat_n" || rc=1
  st chat_completions_retrieve "$get_n" || rc=1
  exit "$rc"
) &
lane1=$!
(
  rc=0
  st chat_completions_list "$list_n" || rc=1
  st chat_completions_register "$register_n" || rc=1
  exit "$rc"
) &
lane2=$!
rc=0
wait "$lane1" || rc=1
wait "$lane2" || rc=1
took=$((SECONDS - start))

# --- verdict ---------------------------------------------------------------------------------------------------
alive=1
kill -0 "$server" 2>/dev/null || alive=0
healthy=$(python3 -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" "$URL/healthz" \
  >/dev/null 2>&1 && echo 1 || echo 0)
python3 - "$OUT" "$CASES" "$took" "$alive" "$healthy" "${OPS[@]}" <<'PY' || rc=1
import glob, json, sys
out, target, took, alive, healthy = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"
generated = failures = errors = 0
for name in sys.argv[6:]:
    files = glob.glob(f"{out}/{name}/*.json")
    if not files:
        print(f"[fuzz] {name}: no report (see {out}/{name}.log)")
        failures += 1
        continue
    r = json.load(open(files[0]))
    tc = r["test_cases"]
    generated += tc["generated"]
    failures += tc["with_failures"]
    errors += tc["errored"] + len(r["errors"])
    print(f"[fuzz] {name}: {tc['generated']} cases, {tc['with_failures']} with failures, {tc['errored']} errored, {r['running_time']:.0f}s")
ok = generated >= target and failures == 0 and errors == 0 and alive and healthy
print(f"[fuzz] total {generated} cases (target {target}) in {took}s: {failures} failed, {errors} errored, "
      f"gateway {'alive' if alive and healthy else 'DOWN'} -> {'ok' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
PY
if ((rc != 0)); then
  for name in "${OPS[@]}"; do
    log "---- $OUT/$name.log (failures section)"
    sed -n '/FAILURES/,/SUMMARY/p' "$OUT/$name.log" | cut -c1-400 | head -n 80 >&2 || true
  done
  log "---- gateway errors"
  grep -m 20 '"level":[56]0' "$OUT/server.log" | cut -c1-600 >&2 || true
fi
exit "$rc"
