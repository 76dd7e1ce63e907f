#!/usr/bin/env bash
# The `awe` command's figure for `make bench`: `awe policy lint` of 1,000
# policy files (copies of examples/*.yaml, each with a key of its own, in a
# temporary directory) by the release binary; the median of 5 runs, against
# the target of 2,000 files/s. Needs no database.
# Output: bench cli_policy_lint_1000_files: <files/s> files/s (ratio <r> vs target 2000/s; <ms> ms)
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=1000
RUNS=${BENCH_CLI_RUNS:-5}
cargo build -q --release -p awe-cli --bin awe
AWE=${CARGO_TARGET_DIR:-target}/release/awe
dir=$(mktemp -d "${TMPDIR:-/tmp}/awe-cli-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
examples=(examples/*.yaml)
for ((i = 0; i < FILES; i++)); do
  src=${examples[$((i % ${#examples[@]}))]}
  sed "s/^key: .*/key: bench.lint.$i/" "$src" > "$dir/policy-$(printf %04d "$i").yaml"
done
ms=()
for ((r = 0; r < RUNS; r++)); do
  start=$(date +%s%N)
  rc=0; "$AWE" policy lint "$dir" > "$dir.out" 2>&1 || rc=$?
  end=$(date +%s%N)
  # The broken example's copies have problems (exit 1); anything else is a failure.
  if [ "$rc" -gt 1 ]; then cat "$dir.out" >&2; exit 1; fi
  ms+=("$(( (end - start) / 1000 ))")
done
rm -f "$dir.out"
python3 - "$FILES" "${ms[@]}" <<'PY'
import statistics, sys
files = int(sys.argv[1])
us = statistics.median(map(int, sys.argv[2:]))
rate = files / (us / 1e6)
print(f"bench cli_policy_lint_{files}_files: {rate:.0f} files/s (ratio {rate / 2000:.2f} vs target 2000/s; {us / 1000:.1f} ms)")
PY
