//! Times `awe policy lint` over 1,000 generated policy files and prints
//! files per second (target: at least 2,000). One file in ten has problems,
//! so reporting and line lookup are measured too.
//!
//!     cargo build --release -p awe-cli --bin awe --example lint_bench
//!     target/release/examples/lint_bench
//!
//! The `awe` binary is taken from AWE_BIN, or from next to this program's
//! `examples/` directory (the same target profile).

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const FILES: usize = 1_000;
const ROUNDS: usize = 5;

fn policy(i: usize) -> String {
    let broken = i % 10 == 9;
    let mode = if broken { "majority" } else { "any" };
    format!(
        "# generated policy {i}
key: bench.policy.{i}
artifact_type: doc_{kind}
title: Bench policy {i}
context_schema:
  required: [amount, submitter]
  properties:
    amount: {{type: number, minimum: 0}}
    submitter: {{type: string}}
forbid_self_approval: true
expires_after: {days}d
exclude:
  - {{type: expression, logic: {{var: submitter}}}}
stages:
  - name: Manager
    rules:
      - {{type: expression, logic: {{var: manager}}}}
    skip_if: {{\"<=\": [{{var: amount}}, {limit}]}}
    sla: 8h
    on_breach: {{action: remind, every: 2h, max: 3}}
  - name: Finance
    mode: {mode}
    n: 2
    rules:
      - {{type: group, group: /finance/approvers, include_subgroups: true}}
      - {{type: user, user: cfo, required: true}}
    skip_if: {{and: [{{\"<=\": [{{var: amount}}, {big}]}}, {{\"!=\": [{{var: currency}}, EUR]}}]}}
  - name: Legal
    parallel_group: review
    rules: [{{type: role, role: legal}}]
  - name: Security
    parallel_group: review
    rules: [{{type: role, role: security}}]
",
        kind = i % 7,
        days = 1 + i % 30,
        limit = 1000 + i,
        big = 10_000 + i,
    )
}

fn awe_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("AWE_BIN") {
        return PathBuf::from(p);
    }
    let me = std::env::current_exe().expect("own path");
    me.parent().and_then(|examples| examples.parent()).map(|profile| profile.join("awe")).expect("target directory")
}

fn main() {
    let awe = awe_binary();
    assert!(awe.exists(), "{} not found: build it first (cargo build --release -p awe-cli) or set AWE_BIN", awe.display());
    let dir = std::env::temp_dir().join(format!("awe-lint-bench-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("temp dir");
    for i in 0..FILES {
        fs::write(dir.join(format!("policy-{i:04}.yaml")), policy(i)).expect("write policy");
    }
    let mut rates = Vec::new();
    for round in 1..=ROUNDS {
        let started = Instant::now();
        let out = Command::new(&awe).args(["policy", "lint"]).arg(&dir).output().expect("run awe");
        let secs = started.elapsed().as_secs_f64();
        let summary = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string();
        assert_eq!(out.status.code(), Some(1), "one file in ten has a problem: {summary}");
        let rate = FILES as f64 / secs;
        println!("round {round}: {FILES} files in {:.1} ms: {rate:.0} files/s ({summary})", secs * 1000.0);
        rates.push(rate);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    println!("median: {:.0} files/s (target: 2000)", rates[ROUNDS / 2]);
    let _ = fs::remove_dir_all(&dir);
}
