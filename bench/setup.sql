-- Benchmark fixtures (database awe_bench on the local cluster). Idempotent.
create extension if not exists awe;
create schema if not exists bench;
select awe.create_tenant('bench');
set awe.tenant = 'bench';
-- Baseline: pgbench inserting one 1 KB jsonb row per transaction.
create table if not exists bench.baseline (id bigserial primary key, payload jsonb not null);
-- Submit: a 2-stage policy whose first stage resolves 3 approvers by role.
select awe.grant_role(p, 'bench-approver') from unnest(array['ann', 'bob', 'cyd']) p;
select awe.grant_role('dee', 'bench-director');
do $$ begin
  if not exists (select 1 from awe.policy_versions where policy_key = 'bench.two_stage') then
    perform awe.create_policy('{"key": "bench.two_stage", "artifact_type": "doc", "stages": [
      {"name": "review", "mode": "all", "rules": [{"type": "role", "role": "bench-approver"}],
       "skip_if": {"<": [{"var": "amount"}, 0]}, "sla": "8h"},
      {"name": "director", "rules": [{"type": "role", "role": "bench-director"}]}]}');
    perform awe.activate_policy('bench.two_stage', 1);
  end if;
end $$;
-- The same policy with a summary template: what a template costs a submit.
do $$ begin
  if not exists (select 1 from awe.policy_versions where policy_key = 'bench.two_stage_summary') then
    perform awe.create_policy('{"key": "bench.two_stage_summary", "artifact_type": "doc",
      "summary": "{{ submitter }} asks {{ amount }} for {{ note }} (revision {{ revision }})", "stages": [
      {"name": "review", "mode": "all", "rules": [{"type": "role", "role": "bench-approver"}],
       "skip_if": {"<": [{"var": "amount"}, 0]}, "sla": "8h"},
      {"name": "director", "rules": [{"type": "role", "role": "bench-director"}]}]}');
    perform awe.activate_policy('bench.two_stage_summary', 1);
  end if;
end $$;
-- Decide: each client works through its own list of open tasks (client, n),
-- one decision per transaction, by the task's assignee.
drop table if exists bench.decide_queue;
drop function if exists bench.decide_next();
drop sequence if exists bench.decide_seq;
create table bench.decide_queue (client int, n int, task_id uuid, assignee text, primary key (client, n));
drop table if exists bench.decide_floor_queue;
create table bench.decide_floor_queue (like bench.decide_queue including all);
-- Time-ordered ids for the floor scripts, like awe's UUIDv7 (index locality).
create or replace function bench.uuid7() returns uuid language sql volatile as
  $$ select (lpad(to_hex((extract(epoch from clock_timestamp()) * 1000000)::bigint), 16, '0')
             || substr(md5(random()::text), 1, 16))::uuid $$;
-- The lifecycle benchmark: two sequential single-approver stages.
do $$ begin
  if not exists (select 1 from awe.policy_versions where policy_key = 'bench.lifecycle') then
    perform awe.create_policy('{"key": "bench.lifecycle", "artifact_type": "doc", "stages": [
      {"name": "review", "rules": [{"type": "user", "user": "ann"}]},
      {"name": "approve", "rules": [{"type": "user", "user": "dee"}]}]}');
    perform awe.activate_policy('bench.lifecycle', 1);
  end if;
end $$;
