#!/usr/bin/env bash
# pg-tree.sh DIR: a private copy of this machine's PostgreSQL 15 under DIR
# (DIR/usr/lib/postgresql/15 and DIR/usr/share/postgresql/15), without awe.
# PostgreSQL finds its files relative to its binaries, so the copy is a
# complete installation: `make PG_CONFIG=DIR/usr/lib/postgresql/15/bin/pg_config up`
# installs awe into it and runs the local cluster on it, leaving the
# machine's installation alone. The release builds (releases.sh) use the
# same copies. Readable by the postgres user, which runs the server.
set -euo pipefail
dir=${1:?usage: pg-tree.sh DIR}
rm -rf "$dir" && mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$dir/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$dir/usr/share/postgresql/"
rm -f "$dir/usr/lib/postgresql/15/lib/awe.so" "$dir/usr/share/postgresql/15/extension/"awe[.-]*
chmod 755 "$dir"
echo "$dir/usr/lib/postgresql/15/bin/pg_config"
