-- The SQL lifecycle (lifecycle.sql) sent the way PostgREST/postrust sends
-- each request (seen in the server log with log_statement = all): BEGIN, one
-- statement of twelve set_configs (role switch, JWT claims, headers), the
-- awe_api call, a read of the response settings, COMMIT. Run by pgbench as
-- `authenticator`, so it measures the database side of the REST path with
-- no REST server in the loop.
begin;
select set_config('search_path', '"awe_api", "public"', true), set_config('role', 'awe_caller', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/rpc/submit', true),
       set_config('request.headers', '{"accept":"application/json","authorization":"Bearer xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","content-length":"113","content-type":"application/json","host":"127.0.0.1:54380"}', true),
       set_config('request.cookies', '{}', true), set_config('request.trace_id', 'dd8a61e49fcc0950b994ef4f29cf06cf', true),
       set_config('request.jwt.claims', '{"exp": 4102444800, "role": "awe_caller", "tenant": "bench", "sub": "bench-app"}', true),
       set_config('request.jwt.claims.exp', '4102444800', true), set_config('request.jwt.claims.role', 'awe_caller', true),
       set_config('request.jwt.claims.tenant', 'bench', true), set_config('request.jwt.claims.sub', 'bench-app', true);
select (s -> 'tasks' -> 0 ->> 'task_id') as t1
  from awe_api.submit(artifact_id => 'l-' || :client_id || '-' || (random() * 1e12)::bigint, artifact_type => 'doc',
                      context => '{"amount": 5}'::jsonb, policy_key => 'bench.lifecycle') s \gset
select current_setting('response.headers', true), current_setting('response.status', true);
commit;
begin;
select set_config('search_path', '"awe_api", "public"', true), set_config('role', 'awe_approver', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/rpc/decide', true),
       set_config('request.headers', '{"accept":"application/json","authorization":"Bearer xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","content-length":"113","content-type":"application/json","host":"127.0.0.1:54380"}', true),
       set_config('request.cookies', '{}', true), set_config('request.trace_id', 'dd8a61e49fcc0950b994ef4f29cf06cf', true),
       set_config('request.jwt.claims', '{"exp": 4102444800, "role": "awe_approver", "tenant": "bench", "sub": "ann"}', true),
       set_config('request.jwt.claims.exp', '4102444800', true), set_config('request.jwt.claims.role', 'awe_approver', true),
       set_config('request.jwt.claims.tenant', 'bench', true), set_config('request.jwt.claims.sub', 'ann', true);
select (s -> 'tasks' -> 1 ->> 'task_id') as t2 from awe_api.decide(decision => 'approve', task_id => :t1) s \gset
select current_setting('response.headers', true), current_setting('response.status', true);
commit;
begin;
select set_config('search_path', '"awe_api", "public"', true), set_config('role', 'awe_approver', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/rpc/decide', true),
       set_config('request.headers', '{"accept":"application/json","authorization":"Bearer xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","content-length":"113","content-type":"application/json","host":"127.0.0.1:54380"}', true),
       set_config('request.cookies', '{}', true), set_config('request.trace_id', 'dd8a61e49fcc0950b994ef4f29cf06cf', true),
       set_config('request.jwt.claims', '{"exp": 4102444800, "role": "awe_approver", "tenant": "bench", "sub": "dee"}', true),
       set_config('request.jwt.claims.exp', '4102444800', true), set_config('request.jwt.claims.role', 'awe_approver', true),
       set_config('request.jwt.claims.tenant', 'bench', true), set_config('request.jwt.claims.sub', 'dee', true);
select s ->> 'status' from awe_api.decide(decision => 'approve', task_id => :t2) s;
select current_setting('response.headers', true), current_setting('response.status', true);
commit;
