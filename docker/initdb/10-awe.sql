-- Runs once, on an empty data directory (official image convention).
create database awe;
\connect awe
create extension awe;
-- PostgREST logs in as authenticator and switches to the JWT's role.
create role authenticator login noinherit password 'change-me-authenticator';
grant awe_anon, awe_viewer, awe_approver, awe_caller, awe_admin to authenticator;
