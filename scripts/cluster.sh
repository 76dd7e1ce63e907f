#!/usr/bin/env bash
# A local PostgreSQL 15 cluster with awe preloaded: up | down | stop | reset | check | psql | status.
# Data lives under .awe/ in the repo (gitignored); the server runs as the
# `postgres` user because Postgres refuses to run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# The PostgreSQL 15 installation: the machine's, or a private copy
# (scripts/pg-tree.sh; `make PG_CONFIG=<copy>/usr/lib/postgresql/15/bin/pg_config up`)
# so that two checkouts can each install their own build of awe.
BIN=${AWE_PG_BIN:-/usr/lib/postgresql/15/bin}
EXT_DIR=$("$BIN/pg_config" --sharedir)/extension
PORT=${AWE_PORT:-54329}
AWE_HOME="${AWE_HOME:-$ROOT/.awe}"
DATA="$AWE_HOME/pgdata"
LOG="$AWE_HOME/postgres.log"
DB=awe
RUN_AS=postgres
REST_PORT=${AWE_REST_PORT:-$((PORT + 51))}
POSTRUST=${POSTRUST:-$HOME/.cargo/bin/postrust}

# From /, so that the postgres user is never left in a directory it may not
# enter (every path given is absolute).
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u "$RUN_AS" -- "$@"); else "$@"; fi
}

# The postgres user must reach the data directory. When the checkout sits
# where it cannot (root's home is drwx------ on Debian, as is any mktemp -d
# folder), the data lives under /var/tmp instead and .awe/pgdata links to
# it; Postgres itself is always given the real path, never the link.
resolve_data_dir() {
  # The checkout decides (it always exists; .awe/ may not yet, and is
  # created readable, 0755, inside it).
  if [ "$(id -u)" = 0 ] && ! runuser -u "$RUN_AS" -- test -x "$ROOT" 2>/dev/null; then
    local alt="/var/tmp/awe-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
    DATA="$alt/pgdata"
    LOG="$alt/postgres.log"
  fi
}

ensure_data_dir() {
  mkdir -p "$AWE_HOME"
  resolve_data_dir
  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$DATA" && chown "$RUN_AS": "$DATA" && chmod 700 "$DATA"
    if [ "$DATA" != "$AWE_HOME/pgdata" ]; then
      chown "$RUN_AS": "$(dirname "$DATA")"
      [ -L "$AWE_HOME/pgdata" ] || ln -sfn "$DATA" "$AWE_HOME/pgdata"
    fi
    touch "$LOG" && chown "$RUN_AS": "$LOG"
  fi
}

running() { [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_awe() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres "$@"; }

up() {
  ensure_data_dir
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    cat >> "$DATA/postgresql.conf" <<CONF
# --- awe local cluster ---
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '/tmp'
shared_preload_libraries = 'awe'
awe.database = '$DB'
max_connections = 300
shared_buffers = 512MB
fsync = on
synchronous_commit = on
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
CONF
  fi
  if ! running; then
    # RUST_BACKTRACE on purpose: the tests check that no Rust backtrace ever
    # reaches a client, even when the postmaster's environment asks for them.
    as_pg env RUST_BACKTRACE=1 "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
  fi
  psql_awe -d postgres -tc "select 1 from pg_database where datname = '$DB'" | grep -q 1 \
    || psql_awe -d postgres -c "create database $DB"
  ensure_extension "$DB"
  # PostgREST logs in as `authenticator` and switches to the JWT's role.
  psql_awe -d "$DB" -c "do \$\$ begin
      if not exists (select 1 from pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
      end if; end \$\$;
    grant awe_anon, awe_viewer, awe_approver, awe_caller, awe_admin to authenticator;"
  [ -s "$AWE_HOME/jwt-secret" ] || head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | head -c 48 > "$AWE_HOME/jwt-secret"
  local rest=""
  if [ -x "$POSTRUST" ]; then start_rest; rest="http://127.0.0.1:$REST_PORT"; fi
  cat > "$AWE_HOME/dev.env" <<ENV
DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/$DB
PGHOST=127.0.0.1
PGPORT=$PORT
PGUSER=postgres
PGDATABASE=$DB
AWE_REST_URL=$rest
AWE_JWT_SECRET=$(cat "$AWE_HOME/jwt-secret")
AWE_SERVER_LOG=$LOG
ENV
  echo "awe: Postgres 15 on 127.0.0.1:$PORT, database $DB${rest:+, REST on $rest} (settings in .awe/dev.env)" >&2
}

# postrust-server, a PostgREST-compatible server from crates.io (real
# PostgREST is not packaged for Debian; production uses its image), in
# PostgREST compatibility mode in front of schema awe_api. It reaches
# Postgres over the Unix socket, as PostgREST is advised to when on the same
# host: it makes five round trips per request.
start_rest() {
  stop_rest
  # The port may be briefly taken: by a connection of the previous server
  # in TIME_WAIT, or as the local end of some client's outgoing connection
  # (54380 is inside Linux's ephemeral port range). Try again for a minute.
  local attempt
  for attempt in $(seq 1 60); do
    launch_rest
    # Up to 30 s: it loads its schema cache first, slowly on a busy machine.
    for _ in $(seq 1 300); do
      curl -s -o /dev/null "http://127.0.0.1:$REST_PORT/" && return 0
      kill -0 "$(cat "$AWE_HOME/postrust.pid")" 2>/dev/null || break
      sleep 0.1
    done
    grep -q "Address already in use" "$AWE_HOME/postrust.log" || break
    sleep 1
  done
  echo "awe: the REST server did not start; see $AWE_HOME/postrust.log" >&2
  return 1
}

launch_rest() {
  # Without the caller's DATABASE_URL and PG* (say, a shell that sourced
  # .awe/dev.env): the server would log in as that user instead.
  env -u DATABASE_URL -u PGUSER -u PGHOST -u PGPORT -u PGDATABASE \
  PGRST_COMPAT_MODE=true PGRST_DB_URI="postgres://authenticator@localhost:$PORT/$DB?host=/tmp" PGRST_DB_SCHEMAS=awe_api \
  PGRST_DB_ANON_ROLE=awe_anon PGRST_JWT_SECRET="$(cat "$AWE_HOME/jwt-secret")" PGRST_SERVER_HOST=127.0.0.1 \
  PGRST_SERVER_PORT=$REST_PORT PGRST_DB_POOL=20 PGRST_LOG_LEVEL=warn \
    nohup "$POSTRUST" > "$AWE_HOME/postrust.log" 2>&1 &
  echo $! > "$AWE_HOME/postrust.pid"
}

# Waits for the old server to exit: a new one started while it still holds
# the port fails with "address already in use".
stop_rest() {
  if [ -f "$AWE_HOME/postrust.pid" ]; then
    local pid
    pid=$(cat "$AWE_HOME/postrust.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$AWE_HOME/postrust.pid"
  fi
}

# awe in the database: created when missing, updated (ALTER EXTENSION awe
# UPDATE) when an older version is installed. Never dropped here: the
# cluster may hold data someone cares about.
#
# An unreleased version's install script changes in place while it is
# developed; a database created from an earlier state of it is stale and
# only `make reset` (which drops its awe data) brings it up to date. Each
# database remembers the script it was created or updated with in its
# comment.
script_sum() { md5sum "$EXT_DIR/awe--$1.sql" | cut -c1-32; }
stamp() { psql_awe -d "$1" -c "comment on database $1 is 'awe dev: awe $2 from script $(script_sum "$2")'"; }

ensure_extension() {
  local db=$1 installed current
  current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" $EXT_DIR/awe.control)
  installed=$(psql_awe -d "$db" -tAc "select extversion from pg_extension where extname = 'awe'")
  if [ -z "$installed" ]; then
    psql_awe -d "$db" -c "create extension awe"
    stamp "$db" "$current"
  elif [ "$installed" != "$current" ]; then
    psql_awe -d "$db" -c "alter extension awe update"
    echo "awe: database $db updated from awe $installed to $current" >&2
    stamp "$db" "$current"
  else
    stale_check "$db" || true
  fi
}

# Fails, saying what to do, when the database's awe predates the current
# state of its version's script.
stale_check() {
  local db=$1 current mark
  current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" $EXT_DIR/awe.control)
  mark=$(psql_awe -d "$db" -tAc "select coalesce(shobj_description(oid, 'pg_database'), '') from pg_database where datname = '$db'")
  if [ "$mark" != "awe dev: awe $current from script $(script_sum "$current")" ]; then
    echo "awe: WARNING: database $db has awe $current from an earlier state of its unreleased script; 'make reset' recreates awe there (dropping its awe data)" >&2
    return 1
  fi
}

# Development only: drops awe (and all its data) and creates it again.
reset() {
  local db=$1
  psql_awe -d "$db" -c "drop extension if exists awe cascade" -c "create extension awe"
  stamp "$db" "$(psql_awe -d "$db" -tAc "select extversion from pg_extension where extname = 'awe'")"
  # The REST server reads the schema once; it must see the new functions.
  if [ -x "$POSTRUST" ]; then start_rest; fi
  echo "awe: awe recreated in database $db (its data dropped)" >&2
}

stop() {
  stop_rest
  if running; then as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi
}

resolve_data_dir
case "${1:-}" in
  up) up ;;
  stop) stop ;;
  down) stop; echo "awe: cluster stopped (data kept in .awe/; rm -rf .awe to reset)" >&2 ;;
  reset) running || { echo "awe: the cluster is not running (make up)" >&2; exit 1; }; reset "$DB" ;;
  check) stale_check "$DB" ;;
  psql) shift; exec "$BIN/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" "$@" ;;
  status) running && echo running || echo stopped ;;
  *) echo "usage: $0 up|down|stop|reset|check|psql|status" >&2; exit 2 ;;
esac
