#!/usr/bin/env bash
# The console's figure for `make bench`: navigation to the first inbox page
# rendered for a person with 10,000 open tasks (ui/e2e/perf.spec.ts, in
# Debian's chromium against the running stack), median of cold loads.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/console.sh check
rm -f ui/test-results/bench.txt
(cd ui && npx playwright test --project timing --no-deps --reporter=line > ../bench/out/console.txt 2>&1) \
  || { tail -30 bench/out/console.txt >&2; exit 1; }
cat ui/test-results/bench.txt
