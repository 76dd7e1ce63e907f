#!/usr/bin/env bash
# `make bench`: awe's performance figures on the local cluster, each as a
# ratio to a baseline measured in the same run (machines here are shared).
# Output: one line per figure, `bench <name>: <value> <unit> (ratio <r> vs <baseline>)`.
set -euo pipefail
cd "$(dirname "$0")/.."
source .awe/dev.env
BIN=${AWE_PG_BIN:-/usr/lib/postgresql/15/bin}
DB=awe_bench
CLIENTS=${BENCH_CLIENTS:-4}
SECS=${BENCH_SECONDS:-20}
OUT=bench/out; mkdir -p "$OUT"
PSQL=("$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U postgres)
# A fresh database every run, so that runs compare: the write benchmarks
# start from empty tables (they grow by ~100,000 requests a run) and the
# inbox data is seeded anew (~20 s).
"${PSQL[@]}" -d postgres -c "drop database if exists $DB with (force)" -c "create database $DB"
"${PSQL[@]}" -d $DB -f bench/setup.sql >/dev/null 2>&1
export PGOPTIONS="-c awe.tenant=bench"

tps() {  # tps <script> [pgbench -T/-t args]: prints transactions per second
  local script=$1; shift
  local run=("$@"); [ ${#run[@]} -gt 0 ] || run=(-T "$SECS")
  "$BIN/pgbench" -n -M prepared -h "$PGHOST" -p "$PGPORT" -U "${BENCH_USER:-postgres}" -c "$CLIENTS" -j 2 "${run[@]}" -f "$script" $DB \
    > "$OUT/$(basename "$script" .sql).txt" 2>&1
  grep -oP 'tps = \K[0-9.]+(?= \(without initial)' "$OUT/$(basename "$script" .sql).txt"
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

# The machine is shared and its speed drifts by the minute, so figures that
# are compared run interleaved: ROUNDS rounds, each script SLICE seconds per
# round. A figure is the median of its rounds' tps; a ratio is the median of
# the per-round ratios, printed with their range.
ROUNDS=${BENCH_ROUNDS:-3}
SLICE=$(( SECS / ROUNDS > 3 ? SECS / ROUNDS : 3 ))
declare -A R
interleave() {  # interleave <label>=<command>...: appends each command's tps per round to R[label]
  local i spec
  for ((i = 0; i < ROUNDS; i++)); do
    for spec in "$@"; do R[${spec%%=*}]+="$(eval "${spec#*=}") "; done
  done
}
median() { python3 -c "import statistics, sys; print(round(statistics.median(map(float, sys.argv[1:])), 1))" ${R[$1]}; }
ratio_of() {  # ratio_of <label> <baseline label>: "<median ratio> (rounds <lo>-<hi>)"
  python3 -c "
import statistics, sys
a, b = (list(map(float, x.split())) for x in sys.argv[1:])
r = [x / y for x, y in zip(a, b)]
print(f'{statistics.median(r):.2f} (rounds {min(r):.2f}-{max(r):.2f})')" "${R[$1]}" "${R[$2]}"
}

interleave base="tps bench/baseline.sql -T $SLICE" submit="tps bench/submit.sql -T $SLICE" \
           floor="tps bench/submit_floor.sql -T $SLICE"
base=$(median base)
echo "bench baseline_insert_1kb_jsonb: $base tps (ratio 1.00 vs baseline_insert_1kb_jsonb; rounds ${R[base]% })"
echo "bench submit_two_stage_three_approvers: $(median submit) tps (ratio $(ratio_of submit base) vs baseline_insert_1kb_jsonb)"
# The write floor: the same rows as one statement of literals, no engine.
echo "bench submit_write_floor: $(median floor) tps (ratio $(ratio_of floor base) vs baseline_insert_1kb_jsonb; submit is $(ratio_of submit floor) of it)"

# A summary template costs a submit one render (cached compile): the same
# submit against the same policy with a template, interleaved.
interleave plain="tps bench/submit.sql -T $SLICE" summary="tps bench/submit_summary.sql -T $SLICE"
echo "bench submit_with_summary_template: $(median summary) tps (ratio $(ratio_of summary plain) vs submit_two_stage_three_approvers without; target >= 0.95)"

# The settings awe.distribute() gives a database on Citus (custom plans, one
# statement per table; docs/scale-out.md), here on one node, where they are
# not needed: what they cost.
DIST="$PGOPTIONS -c awe.write_mode=per_table -c awe.plan_cache_mode=force_custom_plan"
interleave one="tps bench/submit.sql -T $SLICE" dist="PGOPTIONS='$DIST' tps bench/submit.sql -T $SLICE"
echo "bench submit_with_citus_settings_on_one_node: $(median dist) tps (ratio $(ratio_of dist one) vs submit_two_stage_three_approvers with the defaults)"

# Queue the open first-stage tasks the submit run created, one decision each.
# Tasks are dealt round-robin to the clients in the order first, second,
# third task of every request, so concurrent decisions fall on different
# requests (decisions on one request serialise on its row lock by design;
# tests/concurrency.rs covers that case).
deal() {  # deal <queue table> <assignees>: queues their open first-stage tasks; prints how many
  "${PSQL[@]}" -d $DB -c "truncate $1;
    insert into $1
    select (k - 1) % $CLIENTS, (k - 1) / $CLIENTS + 1, task_id, assignee
      from (select row_number() over (order by nth, created_at, request_id) k, task_id, assignee
              from (select task_id, assignee, created_at, request_id,
                           row_number() over (partition by request_id order by task_id) nth
                      from awe.task where tenant_id = 'bench' and status = 'open' and stage_index = 0
                       and assignee in ($2)) t) q;" >/dev/null
  "${PSQL[@]}" -d $DB -tAc "select count(*) from $1"
}
queued=$(deal bench.decide_queue "'ann', 'bob', 'cyd'")
# Decisions use up their queue, so they are not interleaved: each runs once,
# between two baseline runs.
R[around]=$(tps bench/baseline.sql -T $SLICE)
decide=$(tps bench/decide.sql -t $((queued / CLIENTS - 1)) -D n=0)
# The write floor of a decision, on the floor run's tasks, dealt the same way.
queued=$(deal bench.decide_floor_queue "'floor-ann', 'floor-bob', 'floor-cyd'")
dfloor=$(tps bench/decide_floor.sql -t $((queued / CLIENTS - 1)) -D n=0)
R[around]+=" $(tps bench/baseline.sql -T $SLICE)"
around=$(median around)
echo "bench decide: $decide tps (ratio $(ratio "$decide" "$around") vs baseline_insert_1kb_jsonb $around tps around it)"
echo "bench decide_write_floor: $dfloor tps (ratio $(ratio "$dfloor" "$around") vs baseline_insert_1kb_jsonb; decide is $(ratio "$decide" "$dfloor") of it)"

# Inbox: 1,000,000 open tasks over 10,000 principals, 1,000 calls, p99 latency.
"${PSQL[@]}" -d $DB -f bench/seed-inbox.sql >/dev/null
# Steady state, as autovacuum would leave it: otherwise its pass over the
# million fresh rows lands in the middle of the measurement.
"${PSQL[@]}" -d $DB -c "vacuum analyze awe.task, awe.request" >/dev/null
inbox_p99() {  # inbox_p99 <clients>: p99 latency in ms over 1,000 calls
  rm -f "$OUT"/pgbench_log.*
  (cd "$OUT" && "$BIN/pgbench" -n -M prepared -h "$PGHOST" -p "$PGPORT" -U postgres -c "$1" -j "$1" -t $((1000 / $1)) \
     -l -f ../inbox.sql $DB > inbox.txt 2>&1)
  cat "$OUT"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}'
}
base_ms=$(python3 -c "print(f'{1000*$CLIENTS/$base:.2f}')")
p99=$(inbox_p99 1)
echo "bench inbox_p99_1m_open_tasks: $p99 ms (ratio $(ratio "$p99" "$base_ms") vs baseline_insert_1kb_jsonb latency $base_ms ms; 1,000 sequential calls; target <= 5 ms)"
p99c=$(inbox_p99 "$CLIENTS")
echo "bench inbox_p99_1m_open_tasks_${CLIENTS}_clients: $p99c ms (ratio $(ratio "$p99c" "$base_ms") vs baseline_insert_1kb_jsonb latency $base_ms ms)"

# Full lifecycle (submit + two decisions by two approvers) at 8 clients:
# through REST with a token each, against the same work by direct SQL.
if [ -n "${AWE_REST_URL:-}" ]; then
  # The REST server connects to database awe; give it the same fixtures there.
  "${PSQL[@]}" -d awe -f bench/setup.sql >/dev/null 2>&1
  cargo build -q --release -p awe-e2e --example rest_bench
  rest() {  # lifecycles/s through REST; done and error counts go to a file
    local lc n err
    read -r lc n err < <(target/release/examples/rest_bench "$AWE_REST_URL" "$AWE_JWT_SECRET" bench 8 "$SLICE")
    echo "$n $err" >> "$OUT/rest_counts.txt"
    echo "$lc"
  }
  rm -f "$OUT/rest_counts.txt"
  # The same calls in the REST server's statement sequence, without the server:
  # pgbench as the REST server's login role.
  interleave sql="tps bench/lifecycle.sql -T $SLICE -c 8 -j 2" \
             shaped="BENCH_USER=authenticator tps bench/lifecycle_postgrest.sql -T $SLICE -c 8 -j 2" rest="rest"
  read -r rest_n rest_err < <(awk '{n += $1; e += $2} END {print n, e}' "$OUT/rest_counts.txt")
  echo "bench lifecycle_sql_8_clients: $(median sql) lifecycles/s (ratio $(ratio "$(median sql)" "$base") vs baseline_insert_1kb_jsonb)"
  echo "bench lifecycle_sql_as_postgrest_sends_it_8_clients: $(median shaped) lifecycles/s (ratio $(ratio_of shaped sql) vs lifecycle_sql_8_clients)"
  echo "bench lifecycle_rest_8_clients: $(median rest) lifecycles/s (ratio $(ratio_of rest sql) vs lifecycle_sql_8_clients; $rest_n done, $rest_err errors; target >= 0.5)"
fi

# Webhooks: sustained delivery rate, worker memory, commit → receipt latency.
cargo run -q --release -p awe-e2e --example webhook_bench -- "${BENCH_WEBHOOKS:-100000}"

# Directory sync: the first sync of a big Keycloak realm (the stand-in) and
# a resync that must write nothing.
cargo run -q --release -p awe-e2e --example directory_bench

# Checkpoints and webhook throughput. Delivering webhooks writes WAL (the
# submits that queue them, and the worker's record of each delivery); a
# checkpoint then writes out the dirty pages and, after it, the first change
# to every page logs a whole-page image. max_wal_size sets how often WAL
# volume forces one. The sustained phase at three values, interleaved, with
# the checkpoints it requested (pg_stat_bgwriter).
wal_rate() {  # wal_rate <max_wal_size>: deliveries/s; the checkpoints go to $OUT/checkpoints_<size>
  "${PSQL[@]}" -d postgres -c "alter system set max_wal_size = '$1'" -c "select pg_reload_conf()" -c "checkpoint" >/dev/null
  local c0 rate
  c0=$("${PSQL[@]}" -d postgres -tAc "select checkpoints_req from pg_stat_bgwriter")
  rate=$(cargo run -q --release -p awe-e2e --example webhook_bench -- "${BENCH_CHECKPOINT_WEBHOOKS:-30000}" rate-only)
  echo $(( $("${PSQL[@]}" -d postgres -tAc "select checkpoints_req from pg_stat_bgwriter") - c0 )) >> "$OUT/checkpoints_$1"
  echo "$rate"
}
rm -f "$OUT"/checkpoints_*
wal_before=$("${PSQL[@]}" -d postgres -tAc "show max_wal_size")
interleave wal64="wal_rate 64MB" wal1g="wal_rate 1GB" wal4g="wal_rate 4GB"
"${PSQL[@]}" -d postgres -c "alter system set max_wal_size = '$wal_before'" -c "select pg_reload_conf()" >/dev/null
for w in "64MB wal64" "1GB wal1g" "4GB wal4g"; do
  set -- $w
  echo "bench webhook_rate_max_wal_size_$1: $(median "$2") deliveries/s (ratio $(ratio_of "$2" wal1g) vs max_wal_size 1GB; $(awk '{s += $1} END {print s}' "$OUT/checkpoints_$1") checkpoints requested in $ROUNDS runs of ${BENCH_CHECKPOINT_WEBHOOKS:-30000})"
done

# JSONLogic skip_if evaluation with the compile cache (pure Rust, no Postgres).
cargo run -q --release -p awe-core --example logic_bench

# The awe command: `awe policy lint` of 1,000 policy files (no database).
scripts/cli-bench.sh

# The console: navigation to the first inbox page of 10,000 open tasks, in the browser.
scripts/console-bench.sh
