# awe — the two commands a newcomer needs are `make demo` and `make test`.
# Both install what is missing first (scripts/prereqs.sh is idempotent).
SHELL := /bin/bash
# Another PostgreSQL 15 installation (a private copy, scripts/pg-tree.sh)
# may be named: make PG_CONFIG=<dir>/usr/lib/postgresql/15/bin/pg_config …
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export AWE_PG_BIN := $(patsubst %/,%,$(dir $(PG_CONFIG)))
export PATH := $(HOME)/.cargo/bin:$(PATH)
PGRX_TEST_DATA := /tmp/awe-pgrx-test
E2E_SUITES := policy scenarios errors concurrency jsonlogic rest access integrity worker fairness backup directory summaries notifications docs cli_db

.PHONY: test demo up down stop reset psql bench prereqs install ui unit pgtest e2e citus-shape browser screenshots stack crash upgrade package package-test clean

prereqs:
	@scripts/prereqs.sh

# The cluster is stopped while the shared library is replaced, so it restarts
# on the new one.
install: prereqs
	@scripts/cluster.sh stop
	@cargo pgrx install --release --pg-config $(PG_CONFIG) > .install.log 2>&1 || (tail -40 .install.log; exit 1)
	@install -m 644 sql/awe--*.sql $$($(PG_CONFIG) --sharedir)/extension/

# The console's built files (ui/dist), rebuilt when its sources changed.
ui: prereqs
	@scripts/console.sh build

# The cluster, the REST server and the console (nginx on AWE_PORT + 52).
up: install ui
	@scripts/cluster.sh up
	@scripts/console.sh up
	@echo "awe console: $$(scripts/console.sh url)"

down:
	@scripts/console.sh stop
	@scripts/cluster.sh down

stop:
	@scripts/console.sh stop
	@scripts/cluster.sh stop

# Development only: drops awe and its data in the local database and
# creates it again (`make up` never drops anything; it updates).
reset: up
	@scripts/cluster.sh reset

psql:
	@scripts/cluster.sh psql

demo: up
	@scripts/demo.sh

# Separately: the CLI turns on serde_json's preserve_order, which would
# change map order in the core's own tests if they were built together.
unit: prereqs
	cargo test -p awe-core
	cargo test -p awe-cli
	cargo test -p awe-e2e --lib

# cargo pgrx test copies its own build over the installed library in place,
# which would crash a running cluster: stop ours first.
pgtest: prereqs
	@scripts/cluster.sh stop
	@mkdir -p $(PGRX_TEST_DATA) && chown postgres: $(PGRX_TEST_DATA)
	cargo pgrx test pg15 --runas postgres --pgdata $(PGRX_TEST_DATA)

e2e: up
	@scripts/cluster.sh check
	cargo test -p awe-e2e $(foreach s,$(wildcard $(addprefix tests/,$(addsuffix .rs,$(E2E_SUITES)))),--test $(basename $(notdir $(s)))) -- --test-threads=4

# The end-to-end suite again as awe runs on Citus (custom plans, one
# statement per table), every statement the engine runs traced, then the
# Citus-shape check over them and awe's SQL (tests/citus_shape.rs).
citus-shape: up
	@scripts/cluster.sh check
	@E2E_SUITES="$(E2E_SUITES)" scripts/citus-shape.sh

# The console: unit tests (Vitest), then the browser tests (Playwright on
# Debian's chromium) against the running stack. Screenshots go to
# ui/test-results/screenshots; `make screenshots` writes docs/images/.
browser: up
	@scripts/console.sh check
	cd ui && npx vitest run
	cd ui && npx playwright test

screenshots: up
	@scripts/console.sh check
	cd ui && AWE_SCREENSHOTS_DIR=../docs/images npx playwright test

# The stack from a clone under a 0700 directory (a second cluster, removed after).
stack: install
	@tests/private_checkout.sh

# Kills the worker and restarts the cluster: runs alone, last.
crash: up
	@if [ -f tests/crash.rs ]; then cargo test -p awe-e2e --test crash -- --test-threads=1; fi

# ALTER EXTENSION awe UPDATE from every release (built from its tag) to
# this tree, on clusters of its own.
upgrade: install
	@scripts/releases.sh > target/releases.txt
	AWE_RELEASES="$$(cat target/releases.txt)" cargo test -p awe-e2e --test upgrade -- --test-threads=1

# dist/: the Debian package and a tarball of the same files.
package: prereqs
	@scripts/package.sh

# Installs dist/'s package with apt-get on this machine's PostgreSQL 15,
# exercises it on a cluster of its own, removes both. Runs last: removing
# the package removes the installed library (make install puts it back).
package-test: package
	@tests/package.sh

# Every layer in order; the local stack is stopped at the end, pass or fail.
test:
	@trap 'scripts/console.sh stop; scripts/cluster.sh stop' EXIT; $(MAKE) --no-print-directory unit pgtest e2e citus-shape browser stack crash upgrade package-test

bench: up
	@scripts/bench.sh

clean: down
	rm -rf .awe target
