#!/usr/bin/env bash
# Stop the local test infrastructure started by up.sh (SIGTERM, then SIGKILL after a deadline).
# Data under ${MANIAC_DATA_DIR:-<repo>/.data} is kept; delete that folder for a clean slate.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LOG_TAG=down

rc=0
"$INFRA_DIR/kafka.sh" stop || rc=1
"$INFRA_DIR/clickhouse.sh" stop || rc=1
exit "$rc"
