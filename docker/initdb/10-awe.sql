-- Runs once, on an empty data directory (official image convention).
create database awe;
\connect awe
create extension awe;
-- PostgREST logs in as authenticator and switches to the JWT's role.
create role authenticator login noinherit password 'change-me-authenticator';
grant awe_anon, awe_viewer, awe_approver, awe_caller, awe_admin to authenticator;
-- Keycloak's tokens name the person in preferred_username (their `sub` is
-- an opaque id) and the tenant in a `tenant` claim (realm-awe.json's mapper).
alter system set awe.actor_claim = 'preferred_username';
select pg_reload_conf();
-- The tenant's directory comes from Keycloak: the worker syncs it every five
-- minutes with the awe-directory-sync client of realm-awe.json.
select awe.create_tenant('expenses');
set awe.tenant = 'expenses';
select awe.set_directory_source('keycloak', 'http://keycloak:8080', 'awe', 'awe-directory-sync', 'change-me-directory-sync',
                                '{"realm_roles": ["finance-director"]}');
