-- The expense-report example, end to end through the SQL API.
-- Run by `make demo` (scripts/demo.sh) with psql; every run is a new report.
\set ON_ERROR_STOP 1
\pset footer off
select awe.create_tenant('expenses', 'Expense reports') \g /dev/null
set awe.tenant = 'expenses';

\echo
\echo '== 1. A broken variant is refused, every problem with its JSON path'
select p ->> 'path' as path, p ->> 'message' as problem
  from jsonb_array_elements(awe.validate_policy(awe.policy_to_json(:'broken')) -> 'problems') p;

\echo '== 2. The real policy is imported as a draft and activated'
select (awe.import_policy(:'policy') ->> 'version')::int as version \gset
select awe.activate_policy('expense.report', :version) ->> 'status' as status, :version as version;

\echo '== 3. The directory: Sam submits, Mia is his manager, three finance approvers (Sam and Mia among them)'
select awe.upsert_principal('sam', 'Sam Submitter'), awe.upsert_principal('mia', 'Mia Manager') \g /dev/null
select awe.add_to_group(p, '/finance/approvers') from unnest(array['fin.ana', 'fin.bo', 'sam', 'mia']) p \g /dev/null
select awe.grant_role('dora', 'finance-director') \g /dev/null
select group_path, string_agg(principal_id, ', ' order by principal_id) as members
  from awe.group_member where tenant_id = 'expenses' group by group_path;

\echo '== 4. Which conditions fire for a few amounts (awe.simulate writes nothing)'
select amount, s ->> 'name' as stage, s ->> 'outcome' as outcome,
       (select string_agg(a ->> 'principal', ', ') from jsonb_array_elements(s -> 'approvers') a) as would_ask,
       (select string_agg((x ->> 'principal') || ' (' || (x ->> 'reason') || ')', ', ') from jsonb_array_elements(s -> 'excluded') x) as excluded,
       sim ->> 'prediction' as prediction
  from unnest(array[500, 5000, 12500]) amount,
       lateral awe.simulate('expense.report', jsonb_build_object('amount', amount, 'submitter', 'sam', 'manager', 'mia'), requester => 'sam') sim,
       lateral jsonb_array_elements(sim -> 'stages') s;

\echo '== 5. Sam submits a $12,500 report (through the expense app)'
set awe.actor = 'expense-app';
select awe.submit('expense.report', 'expense_report', 'EXP-' || to_char(clock_timestamp(), 'YYYYMMDD-HH24MISS-US'),
                  '{"amount": 12500, "currency": "USD", "submitter": "sam", "manager": "mia"}', requester => 'sam') as r \gset
select :'r'::jsonb ->> 'request_id' as request_id \gset
select :'r'::jsonb ->> 'status' as status, :'r'::jsonb ->> 'artifact_id' as artifact;

\echo '== 6. Mia approves; the dual-control stage starts (not Mia, not Sam)'
set awe.actor = 'mia';
select task_id as mia_task from awe.inbox('mia') where request_id = :'request_id' \gset
select awe.decide(:'mia_task', 'approve', 'Receipts look right') ->> 'status' as status;
select assignee, stage, due_at, array_to_string(available_actions, ' ') as available_actions
  from awe.inbox('fin.ana') where request_id = :'request_id'
union all
select assignee, stage, due_at, array_to_string(available_actions, ' ')
  from awe.inbox('fin.bo') where request_id = :'request_id';

\echo '== 7. Two finance approvers approve'
set awe.actor = 'fin.ana';
select awe.decide((select task_id from awe.inbox('fin.ana') where request_id = :'request_id'), 'approve') ->> 'status' as after_first;
set awe.actor = 'fin.bo';
select awe.decide((select task_id from awe.inbox('fin.bo') where request_id = :'request_id'), 'approve', 'Dual control done') ->> 'status' as after_second;

\echo '== 8. The timeline (append-only, hash-chained)'
select seq, to_char(created_at, 'HH24:MI:SS.MS') as at, type, actor, coalesce(stage, '') as stage,
       coalesce(data ->> 'assignee', data ->> 'outcome', data ->> 'decision', '') as detail, status
  from awe.timeline(:'request_id');
select awe.verify_timeline(:'request_id') as chain_check;
