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

\echo '== 5. The expense app registers its webhook endpoint (the secret is shown once)'
select (case when exists (select 1 from awe.endpoints where url = :'hook')
             then awe.rotate_endpoint_secret((select endpoint_id from awe.endpoints where url = :'hook'), '0 seconds')
             else awe.register_endpoint(:'hook') end) ->> 'secret' as secret \gset
\pset tuples_only on
\pset format unaligned
\o :secret_file
select :'secret';
\o
\pset tuples_only off
\pset format aligned
select url, enabled, active_secrets from awe.endpoints where url = :'hook';
