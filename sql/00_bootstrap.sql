-- awe schema, part 0: schemas and the error raiser everything else uses.
-- The extension's control file names schema `awe`, so CREATE EXTENSION
-- creates it; `awe_api` is the schema PostgREST exposes.
create schema if not exists awe_api;
comment on schema awe is 'awe: approval workflow engine (internal tables and the SQL API)';
comment on schema awe_api is 'awe: the REST surface exposed through PostgREST';

-- Raises an AWE-… error with the SQLSTATE from the catalogue in Rust, so SQL
-- and Rust code raise identical errors. Never returns.
create function awe._raise(code text, message text, details jsonb default null) returns void
    language c volatile parallel safe as 'MODULE_PATHNAME', 'awe_raise';

-- The error catalogue: code, SQLSTATE, HTTP status PostgREST gives, meaning.
create function awe.error_catalogue() returns jsonb
    language c immutable parallel safe as 'MODULE_PATHNAME', 'awe_error_catalogue';

-- Unix microseconds ⇄ timestamptz, exact in both directions (the engine
-- works in microseconds). Declared STABLE like their bodies so the planner
-- inlines them; a mislabelled IMMUTABLE would run them through fmgr_sql,
-- re-planning the body on every call.
create function awe._to_us(timestamptz) returns bigint
    language sql stable parallel safe as $$ select (extract(epoch from $1) * 1000000)::bigint $$;
create function awe._from_us(bigint) returns timestamptz
    language sql stable parallel safe as $$ select timestamptz 'epoch' + $1 * interval '1 microsecond' $$;
