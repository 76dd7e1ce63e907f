# awe — the two commands a newcomer needs are `make demo` and `make test`.
# Both install what is missing first (scripts/prereqs.sh is idempotent).
SHELL := /bin/bash
PG_CONFIG := /usr/lib/postgresql/15/bin/pg_config
export PATH := $(HOME)/.cargo/bin:$(PATH)
PGRX_TEST_DATA := /tmp/awe-pgrx-test

.PHONY: test demo up down psql bench prereqs install unit pgtest e2e clean

prereqs:
	@AWE_NEED_REST=$${AWE_NEED_REST:-1} scripts/prereqs.sh

# The cluster is stopped while the shared library is replaced: overwriting a
# loaded .so under a running server can crash it.
install: prereqs
	@scripts/cluster.sh stop
	cargo pgrx install --release --pg-config $(PG_CONFIG) >/dev/null

up: install
	@scripts/cluster.sh up

down:
	@scripts/cluster.sh down

psql:
	@scripts/cluster.sh psql

demo: up
	@scripts/demo.sh

unit: prereqs
	cargo test -p awe-core

pgtest: prereqs
	@scripts/cluster.sh stop
	@mkdir -p $(PGRX_TEST_DATA) && chown postgres: $(PGRX_TEST_DATA)
	cargo pgrx test pg15 --runas postgres --pgdata $(PGRX_TEST_DATA)

e2e: up
	cargo test -p awe-e2e -- --test-threads=4

test: unit pgtest e2e

bench: up
	@scripts/bench.sh

clean: down
	rm -rf .awe target
