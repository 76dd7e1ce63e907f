# awe — the two commands a newcomer needs are `make demo` and `make test`.
# Both install what is missing first (scripts/prereqs.sh is idempotent).
SHELL := /bin/bash
PG_CONFIG := /usr/lib/postgresql/15/bin/pg_config
export PATH := $(HOME)/.cargo/bin:$(PATH)
PGRX_TEST_DATA := /tmp/awe-pgrx-test
E2E_SUITES := policy scenarios errors concurrency jsonlogic rest access integrity worker fairness backup

.PHONY: test demo up down psql bench prereqs install unit pgtest e2e stack crash clean

prereqs:
	@scripts/prereqs.sh

# The cluster is stopped while the shared library is replaced, so it restarts
# on the new one.
install: prereqs
	@scripts/cluster.sh stop
	@cargo pgrx install --release --pg-config $(PG_CONFIG) > .install.log 2>&1 || (tail -40 .install.log; exit 1)

up: install
	@scripts/cluster.sh up

down:
	@scripts/cluster.sh down

psql:
	@scripts/cluster.sh psql

demo: up
	@scripts/demo.sh

unit: prereqs
	cargo test -p awe-core -p awe-cli

# cargo pgrx test copies its own build over the installed library in place,
# which would crash a running cluster: stop ours first.
pgtest: prereqs
	@scripts/cluster.sh stop
	@mkdir -p $(PGRX_TEST_DATA) && chown postgres: $(PGRX_TEST_DATA)
	cargo pgrx test pg15 --runas postgres --pgdata $(PGRX_TEST_DATA)

e2e: up
	cargo test -p awe-e2e $(foreach s,$(wildcard $(addprefix tests/,$(addsuffix .rs,$(E2E_SUITES)))),--test $(basename $(notdir $(s)))) -- --test-threads=4

# The stack from a clone under a 0700 directory (a second cluster, removed after).
stack: install
	@tests/private_checkout.sh

# Kills the worker and restarts the cluster: runs alone, last.
crash: up
	@if [ -f tests/crash.rs ]; then cargo test -p awe-e2e --test crash -- --test-threads=1; fi

# Every layer in order; the local stack is stopped at the end, pass or fail.
test:
	@trap 'scripts/cluster.sh stop' EXIT; $(MAKE) --no-print-directory unit pgtest e2e stack crash

bench: up
	@scripts/bench.sh

clean: down
	rm -rf .awe target
