#!/usr/bin/env bash
# Installs what awe needs to build and test, skipping whatever is already there.
# Idempotent: safe to run on every `make test` / `make demo`.
set -euo pipefail

PGRX_VERSION=0.18.0
POSTRUST_VERSION=3.1.0
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[prereqs] %s\n' "$*" >&2; }

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=(postgresql-15 postgresql-server-dev-15 libclang-dev clang pkg-config libssl-dev sudo curl python3)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
  log "installing cargo-pgrx $PGRX_VERSION (several minutes, once)"
  # --debug halves the build time and cargo-pgrx's own speed does not matter.
  cargo install cargo-pgrx --version "=$PGRX_VERSION" --locked --debug --quiet
fi

if ! grep -qs "pg15" "$HOME/.pgrx/config.toml"; then
  log "cargo pgrx init --pg15 $PG_CONFIG"
  cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
fi

if [ "${AWE_NEED_REST:-1}" = 1 ] && ! command -v postrust >/dev/null 2>&1 \
   && ! [ -x "$HOME/.cargo/bin/postrust" ]; then
  log "installing postrust-server $POSTRUST_VERSION (PostgREST-compatible, several minutes, once)"
  # No --locked: its lockfile pins a crate version the registry lacks.
  cargo install postrust-server --version "=$POSTRUST_VERSION" --quiet
fi
log "ok"
