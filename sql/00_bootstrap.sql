-- awe schema, part 0: schemas and the error raiser everything else uses.
-- The extension's control file names schema `awe`, so CREATE EXTENSION
-- creates it; `awe_api` is the schema PostgREST exposes.
create schema if not exists awe_api;
comment on schema awe is 'awe: approval workflow engine (internal tables and the SQL API)';
comment on schema awe_api is 'awe: the REST surface exposed through PostgREST';

-- Raises an AWE-… error with the SQLSTATE from the catalogue in Rust, so SQL
-- and Rust code raise identical errors. Never returns.
create function awe._raise(code text, message text, details jsonb default null, hint text default null) returns void
    language c volatile parallel safe as 'MODULE_PATHNAME', 'awe_raise';

-- The error catalogue: code, SQLSTATE, HTTP status PostgREST gives, meaning.
create function awe.error_catalogue() returns jsonb
    language c immutable parallel safe as 'MODULE_PATHNAME', 'awe_error_catalogue';

-- {"library": …, "sql": …, "matches": …}: the loaded library's version and
-- this database's installed SQL. They differ from the restart onto a new
-- package until ALTER EXTENSION awe UPDATE; meanwhile operations raise
-- AWE-VERSION-MISMATCH and the worker waits (docs/operations.md, Upgrade).
create function awe.version() returns jsonb
    language c stable parallel safe as 'MODULE_PATHNAME', 'awe_version';

-- Unix microseconds of a timestamptz, exact (the engine works in
-- microseconds); awe's own statements take and read timestamps as typed
-- values, this is for people reading the tables.
create function awe._to_us(timestamptz) returns bigint
    language sql stable parallel safe as $$ select (extract(epoch from $1) * 1000000)::bigint $$;
