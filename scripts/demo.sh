#!/usr/bin/env bash
# `make demo`: the expense-report example on the local stack (make up).
set -euo pipefail
cd "$(dirname "$0")/.."
source .awe/dev.env
/usr/lib/postgresql/15/bin/psql -X -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE" \
  -v policy="$(cat examples/expense-report.yaml)" -v broken="$(cat examples/expense-report-broken.yaml)" \
  -f examples/expense-report-demo.sql
