#!/usr/bin/env bash
# `make package`: the release as a Debian package for PostgreSQL 15 and a
# tarball of the same files, in dist/. Built from the tree as it is, with
# the extension's own build (cargo pgrx package), every released version's
# install script and the upgrade scripts between them, and the `awe`
# command.
#
#   dist/postgresql-15-awe_<version>_amd64.deb
#   dist/awe-<version>-pg15-linux-amd64.tar.gz   (the same files, rooted at /)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ARCH=$(dpkg --print-architecture)
STAGE=target/package/root
OUT=dist

log() { printf '[package] %s\n' "$*" >&2; }

log "building awe $VERSION for PostgreSQL 15 (cargo pgrx package)"
cargo pgrx package --pg-config "$PG_CONFIG" > target/package.log 2>&1 || { tail -40 target/package.log; exit 1; }
log "building the awe command"
cargo build --release -q -p awe-cli

rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -a "target/release/awe-pg15/." "$STAGE/"
EXT="$STAGE$($PG_CONFIG --sharedir)/extension"
# Every released version's frozen install script and every upgrade script.
install -m 644 sql/awe--*.sql "$EXT/"
install -D -m 755 target/release/awe "$STAGE/usr/bin/awe"
DOC="$STAGE/usr/share/doc/postgresql-15-awe"
install -D -m 644 README.md "$DOC/README.md"
install -m 644 CHANGELOG.md "$DOC/CHANGELOG.md"
install -d "$DOC/docs" && install -m 644 docs/*.md "$DOC/docs/"
install -d "$DOC/examples" && install -m 644 examples/*.yaml "$DOC/examples/"
cat > "$DOC/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: awe
Source: the awe repository

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
EOF

mkdir -p "$OUT"
tar -C "$STAGE" --owner=0 --group=0 -czf "$OUT/awe-$VERSION-pg15-linux-$ARCH.tar.gz" .

mkdir -p "$STAGE/DEBIAN"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat > "$STAGE/DEBIAN/control" <<EOF
Package: postgresql-15-awe
Version: $VERSION
Architecture: $ARCH
Maintainer: awe maintainers <maintainers@awe.invalid>
Depends: postgresql-15, libc6 (>= 2.34), libgcc-s1
Section: database
Priority: optional
Installed-Size: $SIZE
Homepage: https://github.com/awe/awe
Description: approval workflow engine inside PostgreSQL 15
 awe resolves who must approve an artifact and in which stages, collects
 their decisions, keeps a hash-chained audit trail and tells the caller the
 outcome through signed webhooks, from a background worker.
 .
 Add awe to shared_preload_libraries, set awe.database, restart, then
 CREATE EXTENSION awe. Upgrades: ALTER EXTENSION awe UPDATE.
 Includes the awe command (policy lint, simulate, operations).
EOF
# Postgres must be restarted to load a new library; say so, change nothing.
cat > "$STAGE/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  echo "awe: restart PostgreSQL 15 to load the new library, then run ALTER EXTENSION awe UPDATE in each database that uses it." >&2
fi
exit 0
EOF
chmod 755 "$STAGE/DEBIAN/postinst"
dpkg-deb --root-owner-group --build "$STAGE" "$OUT/postgresql-15-awe_${VERSION}_${ARCH}.deb" >/dev/null
log "$OUT/postgresql-15-awe_${VERSION}_${ARCH}.deb"
log "$OUT/awe-$VERSION-pg15-linux-$ARCH.tar.gz"
