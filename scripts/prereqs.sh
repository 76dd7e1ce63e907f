#!/usr/bin/env bash
# Installs what awe needs to build and test, skipping whatever is already there.
# Idempotent: safe to run on every `make test` / `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."

PGRX_VERSION=0.18.0
POSTRUST_VERSION=3.1.0
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '[prereqs] %s\n' "$*" >&2; }

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# nginx serves the console; chromium is the browser the console's tests drive
# (Playwright never downloads one).
apt_packages=(postgresql-15 postgresql-server-dev-15 libclang-dev clang pkg-config libssl-dev sudo curl python3 nginx chromium)
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
# The console (ui/): Node.js 20.19+ with npm (on the machine; Debian's own
# nodejs is older), and node_modules from the lockfile whenever it is
# missing or older than package-lock.json.
if ! command -v node >/dev/null 2>&1; then
  log "Node.js 20.19+ and npm are needed to build the console (ui/)"
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  log "Node.js $(node --version) is too old to build the console (Vite needs 20.19 or later)"
  exit 1
fi
if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  log "npm ci (ui/)"
  (cd ui && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
log "ok"
