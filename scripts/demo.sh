#!/usr/bin/env bash
# `make demo`: the expense-report example on the local stack (make up):
# policy validation and simulation through SQL, then the request driven
# through REST by the expense app and the approvers with their own tokens,
# webhooks received by a local receiver that verifies their signatures.
set -euo pipefail
cd "$(dirname "$0")/.."
source .awe/dev.env
PSQL=("${AWE_PG_BIN:-/usr/lib/postgresql/15/bin}/psql" -X -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE")
PORT=$((PGPORT + 61))
HOOK="http://127.0.0.1:$PORT/expenses"
RUN=.awe/demo; mkdir -p "$RUN"; : > "$RUN/webhooks.log"

"${PSQL[@]}" -v policy="$(cat examples/expense-report.yaml)" -v broken="$(cat examples/expense-report-broken.yaml)" \
  -v hook="$HOOK" -v secret_file="$RUN/secret" -f examples/expense-report-demo.sql
tr -d ' \n' < "$RUN/secret" > "$RUN/secret.tmp" && mv "$RUN/secret.tmp" "$RUN/secret"

[ -f "$RUN/receiver.pid" ] && kill "$(cat "$RUN/receiver.pid")" 2>/dev/null || true
python3 scripts/receiver.py "$PORT" "$RUN/secret" "$RUN/webhooks.log" & echo $! > "$RUN/receiver.pid"
# The policy's summarizer asks a model endpoint called local-llm. No model
# server can run here, so the demo starts the model stand-in
# (tests/standins/model.py: Ollama's chat API, answers computed from the
# data it receives) and registers it under that name.
[ -f "$RUN/model.pid" ] && kill "$(cat "$RUN/model.pid")" 2>/dev/null || true
MODEL_PORT=$((PGPORT + 62))
python3 tests/standins/model.py --port "$MODEL_PORT" > "$RUN/model.log" 2>&1 & echo $! > "$RUN/model.pid"
trap 'kill "$(cat "$RUN/receiver.pid")" "$(cat "$RUN/model.pid")" 2>/dev/null || true' EXIT
sleep 0.5
echo "== The model stand-in (tests/standins/model.py, in place of a local Ollama) listens on 127.0.0.1:$MODEL_PORT"
"${PSQL[@]}" -tAc "set awe.tenant = 'expenses'; select awe.register_model_endpoint('local-llm', 'ollama', 'http://127.0.0.1:$MODEL_PORT')" >/dev/null

token() { python3 scripts/jwt.py "$AWE_JWT_SECRET" "{\"role\": \"$1\", \"sub\": \"$2\", \"tenant\": \"expenses\"}"; }
rpc() {  # rpc <token> <function> <json>
  curl -sS -X POST "$AWE_REST_URL/rpc/$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
       -H "Idempotency-Key: ${IDEMPOTENCY_KEY:-}" -d "$3"
}
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
APP=$(token awe_caller expense-app)

echo "== 6. Through REST: the expense app submits Sam's \$12,500 report (with an Idempotency-Key)"
ART="EXP-$(date +%Y%m%d-%H%M%S)"
BODY="{\"policy_key\": \"expense.report\", \"artifact_type\": \"expense_report\", \"artifact_id\": \"$ART\",
       \"context\": {\"amount\": 12500, \"currency\": \"USD\", \"submitter\": \"sam\", \"manager\": \"mia\",
                   \"purpose\": \"the team offsite in Lisbon\"},
       \"requester\": \"sam\", \"callback_url\": \"$HOOK?report=$ART\"}"
R=$(IDEMPOTENCY_KEY="$ART" rpc "$APP" submit "$BODY")
R2=$(IDEMPOTENCY_KEY="$ART" rpc "$APP" submit "$BODY")
RID=$(echo "$R" | field "['request_id']")
echo "   request $RID: $(echo "$R" | field "['status']"); a retry with the same key returns request $(echo "$R2" | field "['request_id']")"
echo "   summary at once (the policy's template): $(echo "$R" | field "['summary']['text']")"
for _ in $(seq 1 100); do
  S=$(rpc "$APP" get_request "{\"request_id\": \"$RID\"}")
  [ "$(echo "$S" | field "['summary']['source']")" = model ] && break
  sleep 0.1
done
echo "   summary from the model, after the submit: $(echo "$S" | field "['summary']['text']")"
echo "     impact: $(echo "$S" | field "['summary']['impact']")   risk: $(echo "$S" | field "['summary']['risk']")"

decide() {  # decide <approver> <comment>
  local tok inbox task
  tok=$(token awe_approver "$1")
  inbox=$(rpc "$tok" inbox '{}')
  task=$(echo "$inbox" | python3 -c "import json,sys; print(next(t['task_id'] for t in json.load(sys.stdin) if t['request_id'] == '$RID'))")
  echo "   $1 sees: $(echo "$inbox" | python3 -c "import json,sys; t=[t for t in json.load(sys.stdin) if t['request_id'] == '$RID'][0]; print(t['stage'], '-', ' '.join(a['action'] for a in t['available_actions']))")"
  echo "   $1 approves → request $(rpc "$tok" decide "{\"task_id\": \"$task\", \"decision\": \"approve\", \"comment\": \"$2\"}" | field "['status']")"
}
echo "== 7. Mia (manager) approves with her own token; then two finance approvers (dual control)"
decide mia "Receipts look right"
decide fin.ana "Checked"
decide fin.bo "Dual control done"

echo "== 8. The timeline"
"${PSQL[@]}" -v request_id="$RID" -f examples/expense-report-timeline.sql

echo "== 9. The webhooks the expense app received (signatures verified with its secret)"
want=$("${PSQL[@]}" -tAc "set awe.tenant = 'expenses'; select count(*) from awe.timeline('$RID')" | tail -1)
for _ in $(seq 1 100); do
  [ "$(grep -c "$RID" "$RUN/webhooks.log" || true)" -ge "$want" ] && break
  sleep 0.1
done
python3 - "$RUN/webhooks.log" "$RID" <<'PY'
import json, sys
rows = sorted((json.loads(l) for l in open(sys.argv[1]) if sys.argv[2] in l), key=lambda r: r["seq"])
print(f" {'seq':>3}  {'type':<18} {'stage':<13} {'actor':<12} {'status':<10} signature")
for r in rows:
    print(f" {r['seq']:>3}  {r['type']:<18} {r['stage'] or '':<13} {r['actor']:<12} {r['status']:<10} {'verified' if r['verified'] else 'INVALID'}")
print(f" {len(rows)} webhooks, {sum(r['verified'] for r in rows)} with a valid signature")
PY

echo "== 10. Two more reports wait for Mia, for the console"
waiting=()
for spec in "4200:two laptops for the new hires" "15800:the customer conference booth"; do
  amount=${spec%%:*} purpose=${spec#*:}
  art="EXP-$(date +%Y%m%d-%H%M%S)-$amount"
  r=$(IDEMPOTENCY_KEY="$art" rpc "$APP" submit "{\"policy_key\": \"expense.report\", \"artifact_type\": \"expense_report\",
        \"artifact_id\": \"$art\", \"context\": {\"amount\": $amount, \"currency\": \"USD\", \"submitter\": \"sam\", \"manager\": \"mia\",
        \"purpose\": \"$purpose\"}, \"requester\": \"sam\"}")
  echo "   $art: $(echo "$r" | field "['status']") - $(echo "$r" | field "['summary']['text']")"
  waiting+=("$(echo "$r" | field "['request_id']")")
done
# Their model summaries, before the model stand-in stops with this script.
for id in "${waiting[@]}"; do
  for _ in $(seq 1 100); do
    [ "$(rpc "$APP" get_request "{\"request_id\": \"$id\"}" | field "['summary']['source']")" = model ] && break
    sleep 0.1
  done
done

# Login links: a local token (awe token, signed with .awe/dev.env's secret)
# in the URL fragment, which the console keeps for the tab and removes from
# the address bar. The secret itself never reaches the browser.
URL=$(scripts/console.sh url)
echo
echo "== The awe console: $URL"
cargo build -q --release -p awe-cli
for user in "sam awe_approver requester" "mia awe_approver manager" "fin.ana awe_approver finance" \
            "fin.bo awe_approver finance" "ada awe_admin admin"; do
  set -- $user
  echo "   $1 ($3): ${URL}#token=$(target/release/awe token --sub "$1" --role "$2" --tenant expenses --ttl 8h)"
done
