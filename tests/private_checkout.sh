#!/usr/bin/env bash
# The local stack starts from a checkout the postgres user cannot enter: a
# clone under a 0700 directory, as in root's home on Debian or any mktemp -d
# folder. Run by `make test` (as root, like CI); the extension is already
# installed by then, so this starts a second cluster on its own port from
# the clone, checks awe answers, and removes it again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "private_checkout: skipped (needs root, as make test runs in CI)"; exit 0
fi
dir=$(mktemp -d)            # drwx------ root
trap 'AWE_PORT=$port "$dir/awe/scripts/cluster.sh" down >/dev/null 2>&1 || true; rm -rf "$dir" "$alt"' EXIT
port=$((54500 + RANDOM % 400))
git clone -q . "$dir/awe"
test "$(stat -c %a "$dir")" = 700
AWE_PORT=$port AWE_NEED_REST=0 POSTRUST=/nonexistent "$dir/awe/scripts/cluster.sh" up
alt="/var/tmp/awe-$(printf '%s' "$dir/awe" | md5sum | cut -c1-12)"
test -L "$dir/awe/.awe/pgdata" && test "$(readlink "$dir/awe/.awe/pgdata")" = "$alt/pgdata"
out=$(/usr/lib/postgresql/15/bin/psql -X -At -h 127.0.0.1 -p "$port" -U postgres -d awe \
      -c "select count(*) > 20 from jsonb_array_elements(awe.error_catalogue())")
test "$out" = t
echo "private_checkout: a clone under a 0700 directory runs the stack (data in $alt)"
