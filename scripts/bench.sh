#!/usr/bin/env bash
# `make bench`: awe's performance figures on the local cluster, each as a
# ratio to a baseline measured in the same run (machines here are shared).
# Output: one line per figure, `bench <name>: <value> <unit> (ratio <r> vs <baseline>)`.
set -euo pipefail
cd "$(dirname "$0")/.."
source .awe/dev.env
BIN=/usr/lib/postgresql/15/bin
DB=awe_bench
CLIENTS=${BENCH_CLIENTS:-4}
SECS=${BENCH_SECONDS:-20}
OUT=bench/out; mkdir -p "$OUT"
PSQL=("$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres)
"${PSQL[@]}" -d postgres -tc "select 1 from pg_database where datname = '$DB'" | grep -q 1 || "${PSQL[@]}" -d postgres -c "create database $DB"
"${PSQL[@]}" -d $DB -f bench/setup.sql >/dev/null
export PGOPTIONS="-c awe.tenant=bench"

tps() {  # tps <script> [extra pgbench args]: prints transactions per second
  local script=$1; shift
  "$BIN/pgbench" -n -M prepared -h "$PGHOST" -p "$PGPORT" -U postgres -c "$CLIENTS" -j 2 -T "$SECS" "$@" -f "$script" $DB \
    > "$OUT/$(basename "$script" .sql).txt" 2>&1
  grep -oP 'tps = \K[0-9.]+(?= \(without initial)' "$OUT/$(basename "$script" .sql).txt"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

base=$(tps bench/baseline.sql)
echo "bench baseline_insert_1kb_jsonb: $base tps (ratio 1.00 vs baseline_insert_1kb_jsonb)"
submit=$(tps bench/submit.sql)
echo "bench submit_two_stage_three_approvers: $submit tps (ratio $(ratio "$submit" "$base") vs baseline_insert_1kb_jsonb)"

# Queue the open first-stage tasks the submit run created, one decision each.
"${PSQL[@]}" -d $DB -c "set awe.tenant = 'bench';
  truncate bench.decide_queue; select setval('bench.decide_seq', 1, false);
  insert into bench.decide_queue select row_number() over (order by created_at, task_id), task_id, assignee
    from awe.task where tenant_id = 'bench' and status = 'open' and stage_index = 0 and assignee in ('ann', 'bob', 'cyd');" >/dev/null
queued=$("${PSQL[@]}" -d $DB -tAc "select count(*) from bench.decide_queue")
decide=$(tps bench/decide.sql -t $((queued / CLIENTS - 1)) -T 0 2>/dev/null || true)
decide=$(grep -oP 'tps = \K[0-9.]+(?= \(without initial)' "$OUT/decide.txt")
echo "bench decide: $decide tps (ratio $(ratio "$decide" "$base") vs baseline_insert_1kb_jsonb)"

# Inbox: 1,000,000 open tasks over 10,000 principals, 1,000 calls, p99 latency.
"${PSQL[@]}" -d $DB -f bench/seed-inbox.sql >/dev/null
rm -f "$OUT"/pgbench_log.*
(cd "$OUT" && "$BIN/pgbench" -n -M prepared -h "$PGHOST" -p "$PGPORT" -U postgres -c "$CLIENTS" -j 2 -t $((1000 / CLIENTS)) \
   -l -f ../inbox.sql $DB > inbox.txt 2>&1)
p99=$(cat "$OUT"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}')
base_ms=$(python3 -c "print(f'{1000*$CLIENTS/$base:.2f}')")
echo "bench inbox_p99_1m_open_tasks: $p99 ms (ratio $(ratio "$p99" "$base_ms") vs baseline_insert_1kb_jsonb latency $base_ms ms; target <= 5 ms)"

# JSONLogic skip_if evaluation with the compile cache (pure Rust, no Postgres).
cargo run -q --release -p awe-core --example logic_bench
