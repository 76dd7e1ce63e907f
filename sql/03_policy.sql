-- Policies: a key per tenant, and immutable-once-active versions.
create table awe.policy (
    tenant_id     text collate "C" not null references awe.tenant on delete cascade,
    policy_key    text collate "C" not null,
    artifact_type text collate "C" not null,
    created_at    timestamptz not null default now(),
    primary key (tenant_id, policy_key)
);

create table awe.policy_version (
    tenant_id    text collate "C" not null,
    policy_key   text collate "C" not null,
    version      int  not null check (version >= 1),
    status       text collate "C" not null default 'draft' check (status in ('draft', 'active', 'archived')),
    definition   jsonb not null,
    created_by   text collate "C",
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    activated_at timestamptz,
    archived_at  timestamptz,
    primary key (tenant_id, policy_key, version),
    foreign key (tenant_id, policy_key) references awe.policy on delete cascade
);
-- At most one active version per key, enforced by the database itself.
create unique index policy_version_one_active on awe.policy_version (tenant_id, policy_key) where status = 'active';

-- Only drafts may change; the definition of an active or archived version is
-- what in-flight requests are pinned to. A version that was ever active is
-- never deleted either: requests reference it (without a foreign key, whose
-- KEY SHARE lock on this one hot row made every concurrent submit create a
-- multixact).
create function awe._policy_version_guard() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        if old.status <> 'draft' then
            perform awe._raise('AWE-POLICY-NOT-DRAFT', format('%s v%s is %s; only drafts can be deleted', old.policy_key, old.version, old.status));
        end if;
        return old;
    end if;
    if old.status <> 'draft' and new.definition is distinct from old.definition then
        perform awe._raise('AWE-POLICY-NOT-DRAFT', format('%s v%s is %s; only drafts can be edited', old.policy_key, old.version, old.status));
    end if;
    if old.status = 'archived' and new.status <> 'archived'
       or old.status = 'active' and new.status = 'draft' then
        perform awe._raise('AWE-POLICY-NOT-DRAFT', format('%s v%s cannot go from %s back to %s', old.policy_key, old.version, old.status, new.status));
    end if;
    return new;
end $$;
create trigger policy_version_guard before update or delete on awe.policy_version
    for each row execute function awe._policy_version_guard();
-- Backends remember which version of a key is active (one query fewer per
-- submit); any statement that changes versions makes them all forget.
create trigger policy_versions_changed after insert or update or delete or truncate on awe.policy_version
    for each statement execute function awe._tables_changed();

-- Policy functions (Rust: they validate definitions). Those that write run
-- with the owner's rights: callers hold no write privilege on the tables.
create function awe.validate_policy(definition jsonb) returns jsonb
    language c stable as 'MODULE_PATHNAME', 'awe_validate_policy';
create function awe.create_policy(definition jsonb) returns jsonb
    language c volatile security definer as 'MODULE_PATHNAME', 'awe_create_policy';
create function awe.create_policy_version(definition jsonb) returns jsonb
    language c volatile security definer as 'MODULE_PATHNAME', 'awe_create_policy_version';
create function awe.update_policy_draft(policy_key text, version int, definition jsonb) returns jsonb
    language c volatile security definer as 'MODULE_PATHNAME', 'awe_update_policy_draft';
create function awe.import_policy(document text, format text default 'yaml') returns jsonb
    language c volatile security definer as 'MODULE_PATHNAME', 'awe_import_policy';
create function awe.policy_to_json(document text, format text default 'yaml') returns jsonb
    language c immutable as 'MODULE_PATHNAME', 'awe_policy_to_json';

create function awe.activate_policy(policy_key text, version int) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); v awe.policy_version; prev int;
begin
    -- Serialize activations of one key on the policy row; the partial unique
    -- index is the backstop.
    perform 1 from awe.policy p where p.tenant_id = t and p.policy_key = activate_policy.policy_key for update;
    if not found then
        perform awe._raise('AWE-POLICY-NOT-FOUND', format('no policy %s', policy_key));
    end if;
    select * into v from awe.policy_version pv
     where pv.tenant_id = t and pv.policy_key = activate_policy.policy_key and pv.version = activate_policy.version;
    if not found then
        perform awe._raise('AWE-POLICY-NOT-FOUND', format('policy %s has no version %s', policy_key, version));
    elsif v.status <> 'draft' then
        perform awe._raise('AWE-POLICY-NOT-DRAFT', format('%s v%s is %s; only drafts can be activated', policy_key, version, v.status));
    end if;
    update awe.policy_version pv set status = 'archived', archived_at = now(), updated_at = now()
     where pv.tenant_id = t and pv.policy_key = activate_policy.policy_key and pv.status = 'active'
    returning pv.version into prev;
    update awe.policy_version pv set status = 'active', activated_at = now(), updated_at = now()
     where pv.tenant_id = t and pv.policy_key = activate_policy.policy_key and pv.version = activate_policy.version;
    perform awe._changed('awe.policy_version');
    return jsonb_build_object('policy_key', policy_key, 'version', version, 'status', 'active', 'archived_version', prev);
end $$;

create function awe.deactivate_policy(policy_key text) returns jsonb
    language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare t text := awe.current_tenant(); prev int;
begin
    perform 1 from awe.policy p where p.tenant_id = t and p.policy_key = deactivate_policy.policy_key for update;
    if not found then
        perform awe._raise('AWE-POLICY-NOT-FOUND', format('no policy %s', policy_key));
    end if;
    update awe.policy_version pv set status = 'archived', archived_at = now(), updated_at = now()
     where pv.tenant_id = t and pv.policy_key = deactivate_policy.policy_key and pv.status = 'active'
    returning pv.version into prev;
    if prev is null then
        perform awe._raise('AWE-POLICY-NOT-ACTIVE', format('policy %s has no active version', policy_key));
    end if;
    perform awe._changed('awe.policy_version');
    return jsonb_build_object('policy_key', policy_key, 'archived_version', prev);
end $$;

create view awe.policy_versions with (security_invoker = true) as
select pv.policy_key, pv.version, pv.status, p.artifact_type, pv.definition ->> 'title' as title,
       pv.definition, pv.created_by, pv.created_at, pv.updated_at, pv.activated_at, pv.archived_at
  from awe.policy_version pv
  join awe.policy p using (tenant_id, policy_key)
 where pv.tenant_id = awe.current_tenant();

create function awe.get_policy(policy_key text, version int default null) returns jsonb
    language plpgsql stable as $$
declare r jsonb;
begin
    select to_jsonb(v) into r from awe.policy_versions v
     where v.policy_key = get_policy.policy_key
       and (v.version = get_policy.version or get_policy.version is null and v.status = 'active');
    if r is null then
        perform awe._raise('AWE-POLICY-NOT-FOUND', format('no %s of policy %s',
            coalesce('version ' || version, 'active version'), policy_key));
    end if;
    return r;
end $$;
