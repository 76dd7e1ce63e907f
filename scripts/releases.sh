#!/usr/bin/env bash
# Every released version of awe, built from its git tag, for the upgrade
# test: a copy of this machine's PostgreSQL 15 (its installation is
# relocatable) with that release's library and install script in place of
# the current ones, under /var/tmp/awe-released/<commit>/ where the postgres
# user can run it wherever the checkout is. A database created there is
# what a DBA running that release has; the test then restarts it on the
# current library and runs ALTER EXTENSION awe UPDATE.
#
# A released version is one with a frozen install script, sql/awe--<v>.sql.
# Its tag v<v>, or in a clone without tags the commit sql/RELEASES names for
# it, must be in the clone, and the frozen script must be exactly what that
# commit's build generates and unchanged since: a released script is never
# edited.
#
# Prints "<version> <PostgreSQL tree>" per release, oldest first. Cached by
# the tag's commit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export PATH="$HOME/.cargo/bin:$PATH"
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
OUT=$ROOT/target/released

log() { printf '[releases] %s\n' "$*" >&2; }
fail() { printf '[releases] %s\n' "$*" >&2; exit 1; }

versions=$(ls sql/ | sed -n 's/^awe--\([0-9][0-9.]*\)\.sql$/\1/p' | sort -V)
[ -n "$versions" ] || fail "no frozen release script in sql/"

for v in $versions; do
  tag="v$v"
  recorded=$(awk -v v="$v" '$1 == v {print $2}' sql/RELEASES)
  [ -n "$recorded" ] || fail "sql/RELEASES names no commit for $v: add the line when the tag is made"
  if commit=$(git rev-parse -q --verify "refs/tags/$tag^{commit}"); then
    [ "$commit" = "$recorded" ] || fail "tag $tag is $commit but sql/RELEASES says $recorded"
  else
    # A clone without tags: the release's commit, which a full clone has.
    git cat-file -e "$recorded^{commit}" 2>/dev/null \
      || fail "neither tag $tag nor its commit $recorded is in this clone (git fetch --tags; a shallow clone has neither)"
    commit=$recorded
  fi
  git diff --quiet "$commit" -- "sql/awe--$v.sql" \
    || fail "sql/awe--$v.sql differs from release $tag: a released script is never edited; put the change in the next upgrade script"
  dir=$OUT/$v
  tree=/var/tmp/awe-released/$commit
  if [ -f "$tree/done" ]; then echo "$v $tree"; continue; fi

  log "building awe $v from $tag (${commit:0:10}), once"
  rm -rf "$dir" && mkdir -p "$dir/src"
  git archive "$commit" | tar -x -C "$dir/src"
  # Its own target directory: the release's crates never overwrite the
  # current build's outputs.
  (cd "$dir/src" && CARGO_TARGET_DIR="$OUT/target" cargo pgrx package --pg-config "$PG_CONFIG" --out-dir "$dir/pkg" \
     > "$dir/build.log" 2>&1) || { tail -30 "$dir/build.log"; fail "building $tag failed (log: $dir/build.log)"; }
  ext=$dir/pkg$($PG_CONFIG --sharedir)/extension
  cmp -s "$ext/awe--$v.sql" "sql/awe--$v.sql" \
    || fail "sql/awe--$v.sql is not what $tag's build generates (diff $ext/awe--$v.sql sql/awe--$v.sql)"

  # The machine's PostgreSQL, copied, with this release in place of awe.
  mkdir -p /var/tmp/awe-released && chmod 755 /var/tmp/awe-released
  scripts/pg-tree.sh "$tree" >/dev/null
  cp "$dir/pkg$($PG_CONFIG --pkglibdir)/awe.so" "$tree/usr/lib/postgresql/15/lib/"
  cp "$ext/awe.control" "$ext/awe--$v.sql" "$tree/usr/share/postgresql/15/extension/"
  rm -rf "$dir/src" && touch "$tree/done"
  echo "$v $tree"
done
