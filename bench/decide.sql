-- One decision per transaction: this client's next task, by its assignee.
-- Started with -D n=0; pgbench keeps :n per client across transactions.
\set n :n + 1
select set_config('awe.actor', q.assignee, true), awe.decide(q.task_id, 'approve') ->> 'status'
  from bench.decide_queue q where q.client = :client_id and q.n = :n;
