-- Summaries from a language model (docs/summaries.md). A policy's
-- `summarizer` names one of the tenant's model endpoints: Ollama's
-- /api/chat or an OpenAI-compatible /v1/chat/completions. Submit and
-- resubmit queue a job in their own transaction; the worker calls the model
-- outside any transaction with only the policy's listed context fields, and
-- records request.summarized (or, after its retries, request.summary_failed).
-- Nothing waits for it: the request's tasks exist from submit, and the
-- template summary stands until the model answers.

create table awe.model_endpoint (
    tenant_id  text collate "C" not null references awe.tenant on delete cascade,
    name       text collate "C" not null check (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    api        text collate "C" not null check (api in ('ollama', 'openai')),
    base_url   text not null check (base_url ~ '^https?://' and length(base_url) <= 2048),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, name)
);

-- The bearer token, like webhook secrets: no role but the owner reads it.
create table awe.model_endpoint_secret (
    tenant_id  text collate "C" not null,
    name       text collate "C" not null,
    bearer     text not null,
    primary key (tenant_id, name),
    foreign key (tenant_id, name) references awe.model_endpoint on delete cascade
);

create table awe.summary_job (
    tenant_id       text collate "C" not null,
    request_id      uuid not null,
    revision        int not null,
    status          awe.job_status not null default 'pending',
    attempts        int not null default 0,
    next_attempt_at timestamptz not null,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz not null,
    finished_at     timestamptz,
    primary key (tenant_id, request_id, revision)
);
create index summary_job_due on awe.summary_job (tenant_id, next_attempt_at) where status in ('pending', 'running');

-- Registers (or replaces) a model endpoint: a name policies use, the API it
-- speaks, its base URL (…/api/chat or …/v1/chat/completions is added), and
-- an optional bearer token for hosted, OpenAI-compatible servers.
create function awe.register_model_endpoint(name text, api text, base_url text, bearer_token text default null) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); r awe.model_endpoint; ts timestamptz := now();
begin
    if name is null or name !~ '^[A-Za-z0-9._-]{1,64}$' then
        perform awe._raise('AWE-BAD-INPUT', 'name must be 1-64 letters, digits, dots, dashes or underscores');
    elsif api is null or api not in ('ollama', 'openai') then
        perform awe._raise('AWE-BAD-INPUT', 'api must be "ollama" (POST /api/chat) or "openai" (POST /v1/chat/completions)');
    elsif base_url is null or base_url !~ '^https?://[^/?#]+' or length(base_url) > 2048 then
        perform awe._raise('AWE-BAD-INPUT', 'base_url must be an http:// or https:// URL such as http://localhost:11434');
    end if;
    insert into awe.model_endpoint as m (tenant_id, name, api, base_url)
    values (t, register_model_endpoint.name, register_model_endpoint.api, rtrim(register_model_endpoint.base_url, '/'))
    on conflict on constraint model_endpoint_pkey do update set api = excluded.api, base_url = excluded.base_url, updated_at = ts
    returning * into r;
    delete from awe.model_endpoint_secret s where s.tenant_id = t and s.name = register_model_endpoint.name;
    if bearer_token is not null and bearer_token <> '' then
        insert into awe.model_endpoint_secret (tenant_id, name, bearer) values (t, register_model_endpoint.name, bearer_token);
    end if;
    return to_jsonb(r) - 'tenant_id' || jsonb_build_object('has_bearer_token', coalesce(bearer_token, '') <> '');
end $$;

create function awe.remove_model_endpoint(name text) returns void
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant();
begin
    delete from awe.model_endpoint m where m.tenant_id = t and m.name = remove_model_endpoint.name;
    if not found then
        perform awe._raise('AWE-NOT-FOUND', format('no model endpoint %s', name));
    end if;
end $$;

create view awe.model_endpoints with (security_invoker = true) as
select m.name, m.api, m.base_url, exists (select 1 from awe.model_endpoint_secret s where s.tenant_id = m.tenant_id and s.name = m.name)
           as has_bearer_token, m.created_at, m.updated_at
  from awe.model_endpoint m
 where m.tenant_id = awe.current_tenant();

-- The tenant's summary jobs, for admins watching the model.
create view awe.summary_jobs with (security_invoker = true) as
select request_id, revision, status, attempts, next_attempt_at, last_error, created_at, finished_at
  from awe.summary_job
 where tenant_id = awe.current_tenant();
