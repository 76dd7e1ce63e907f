#!/usr/bin/env bash
# `make package-test`: tests/package.rs against dist/'s package (see there).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo test -p awe-e2e --test package -- --test-threads=1
