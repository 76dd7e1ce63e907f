#!/usr/bin/env bash
# `make citus-shape`: the end-to-end suite once more, run as awe runs on
# Citus (awe.plan_cache_mode = force_custom_plan, awe.write_mode =
# per_table), with awe.trace_statements logging every statement the engine
# runs; then the Citus-shape check (tests/citus_shape.rs) over those
# statements and awe's SQL functions, views and policies. Citus itself
# cannot be installed here; docs/scale-out.md says what was tried on it.
# The database's settings are put back however the pass ends.
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; source .awe/dev.env; set +a
BIN=${AWE_PG_BIN:-/usr/lib/postgresql/15/bin}
SUITES=${E2E_SUITES:?E2E_SUITES names the end-to-end suites}
psql_awe() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$PGDATABASE" "$@"; }

# New settings reach new sessions only: the cluster restarts (the worker
# and the REST server's pool reconnect) after each change.
restart() { scripts/cluster.sh stop; scripts/cluster.sh up 2>/dev/null; }
put_back() {
  psql_awe -c "alter database $PGDATABASE reset awe.plan_cache_mode" -c "alter database $PGDATABASE reset awe.write_mode" \
           -c "alter database $PGDATABASE reset awe.trace_statements"
  restart
}
trap put_back EXIT
psql_awe -c "alter database $PGDATABASE set awe.plan_cache_mode = force_custom_plan" \
         -c "alter database $PGDATABASE set awe.write_mode = per_table" \
         -c "alter database $PGDATABASE set awe.trace_statements = on"
restart
from=$(stat -c %s "$AWE_SERVER_LOG")
args=()
for s in $SUITES; do [ -f "tests/$s.rs" ] && args+=(--test "$s"); done
echo "awe: the end-to-end suite with custom plans and one statement per table, statements traced" >&2
cargo test -p awe-e2e "${args[@]}" -- --test-threads=4
AWE_TRACE_FROM=$from cargo test -p awe-e2e --test citus_shape
