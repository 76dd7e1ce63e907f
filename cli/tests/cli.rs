//! End-to-end tests of the `awe` binary: it runs over the examples and the
//! broken corpus in tests/corpus, and its output is compared with the
//! snapshots in tests/snapshots (exit code, stdout, stderr). A mismatch
//! fails; to accept new output, run with AWE_UPDATE_SNAPSHOTS=1 and review
//! the diff of tests/snapshots before committing it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const AWE: &str = env!("CARGO_BIN_EXE_awe");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `awe` in `dir` (the package directory when `None`).
fn run_in(dir: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new(AWE);
    cmd.args(args).env("NO_COLOR", "1");
    cmd.current_dir(dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR"))));
    let out = cmd.output().expect("awe runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

fn run(args: &[&str]) -> Run {
    run_in(None, args)
}

/// Compares a run with tests/snapshots/NAME.txt and checks its exit code.
fn snapshot(name: &str, args: &[&str], want_code: i32) -> Run {
    let r = run(args);
    let actual = format!("$ awe {}\nexit: {}\n--- stdout\n{}--- stderr\n{}", args.join(" "), r.code, r.stdout, r.stderr);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.txt"));
    if std::env::var_os("AWE_UPDATE_SNAPSHOTS").is_some() {
        fs::write(&path, &actual).unwrap();
    } else {
        let expected = fs::read_to_string(&path).unwrap_or_else(|_| panic!("no snapshot {}; run with AWE_UPDATE_SNAPSHOTS=1", path.display()));
        assert!(expected == actual, "snapshot {name} differs\n--- expected\n{expected}\n--- actual\n{actual}");
    }
    assert_eq!(r.code, want_code, "exit code of {name}");
    r
}

/// A scratch directory for commands that write files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("awe-cli-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

const EXAMPLE: &str = "../examples/expense-report.yaml";

#[test]
fn lint_the_example() {
    snapshot("lint_example", &["policy", "lint", EXAMPLE], 0);
}

#[test]
fn lint_the_broken_example() {
    snapshot("lint_broken_example", &["policy", "lint", "../examples/expense-report-broken.yaml"], 1);
}

#[test]
fn lint_the_corpus_in_every_format() {
    snapshot("lint_corpus_human", &["policy", "lint", "tests/corpus"], 1);
    let r = snapshot("lint_corpus_json", &["policy", "lint", "tests/corpus", "--json"], 1);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["summary"]["files"], 10, "README.txt and .hidden/ are skipped");
    snapshot("lint_corpus_github", &["policy", "lint", "tests/corpus", "--format", "github"], 1);
    assert_eq!(run(&["policy", "lint", "tests/corpus", "--format", "json"]).stdout, r.stdout, "--json is --format json");
}

#[test]
fn lint_exit_codes() {
    assert_eq!(run(&["policy", "lint", "tests/corpus/nested"]).code, 0);
    snapshot("lint_missing_file", &["policy", "lint", EXAMPLE, "tests/corpus/missing.yaml"], 2);
    assert_eq!(run(&["policy", "lint"]).code, 2, "no path is a usage error");
    assert_eq!(run(&["policy", "lint", EXAMPLE, "--json", "--format", "human"]).code, 2);
    assert_eq!(run(&["policy", "lint", EXAMPLE, "--format", "xml"]).code, 2);
}

#[test]
fn fmt_check_and_stdout() {
    snapshot("fmt_check_example", &["policy", "fmt", "--check", EXAMPLE], 1);
    snapshot("fmt_stdout_example", &["policy", "fmt", "--stdout", EXAMPLE], 0);
    snapshot("fmt_invalid", &["policy", "fmt", "--check", "tests/corpus/invalid.yaml"], 2);
    assert_eq!(run(&["policy", "fmt", "--stdout", EXAMPLE, "tests/corpus/nested/valid.yml"]).code, 2, "--stdout takes one file");
}

#[test]
fn fmt_rewrites_files_and_then_finds_nothing_to_do() {
    let dir = scratch("fmt");
    fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE), dir.join("policy.yaml")).unwrap();
    fs::write(dir.join("policy.json"), "{\"stages\": [{\"rules\": [{\"user\": \"mia\", \"type\": \"user\"}], \"name\": \"s\"}], \"key\": \"k\", \"artifact_type\": \"d\", \"n\": 1e400}").unwrap();
    let first = run_in(Some(&dir), &["policy", "fmt", "."]);
    assert_eq!((first.code, first.stdout.as_str()), (0, "formatted ./policy.json\nformatted ./policy.yaml\n"), "{}", first.stderr);
    assert_eq!(first.stderr, "awe: note: ./policy.yaml: comments are not kept by fmt\n");
    let stdout_version = run(&["policy", "fmt", "--stdout", EXAMPLE]).stdout;
    assert_eq!(fs::read_to_string(dir.join("policy.yaml")).unwrap(), stdout_version);
    assert_eq!(
        fs::read_to_string(dir.join("policy.json")).unwrap(),
        "{\n  \"key\": \"k\",\n  \"artifact_type\": \"d\",\n  \"stages\": [\n    {\n      \"name\": \"s\",\n      \"rules\": [\n        {\n          \"type\": \"user\",\n          \"user\": \"mia\"\n        }\n      ]\n    }\n  ],\n  \"n\": 1e+400\n}\n"
    );
    let again = run_in(Some(&dir), &["policy", "fmt", "--check", "."]);
    assert_eq!((again.code, again.stdout.as_str()), (0, ""));
    // 1e400 cannot be written exactly in YAML: --to-yaml refuses, keeping the JSON.
    let refused = run_in(Some(&dir), &["policy", "fmt", "--to-yaml", "policy.json"]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("n: the number 1e+400 cannot be written exactly in YAML"), "{}", refused.stderr);
    fs::write(dir.join("other.json"), "{\"key\": \"k\", \"artifact_type\": \"d\", \"stages\": []}").unwrap();
    let converted = run_in(Some(&dir), &["policy", "fmt", "--to-yaml", "other.json"]);
    assert_eq!((converted.code, converted.stdout.as_str()), (0, "other.json → other.yaml\n"), "{}", converted.stderr);
    assert_eq!(fs::read_to_string(dir.join("other.yaml")).unwrap(), "key: k\nartifact_type: d\nstages: []\n");
    assert!(!dir.join("other.json").exists());
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn diff_two_versions() {
    snapshot("diff_human", &["policy", "diff", EXAMPLE, "tests/fixtures/expense-report-v2.yaml"], 1);
    snapshot("diff_json", &["policy", "diff", EXAMPLE, "tests/fixtures/expense-report-v2.yaml", "--json"], 1);
    let same = run(&["policy", "diff", EXAMPLE, EXAMPLE]);
    assert_eq!((same.code, same.stdout.as_str()), (0, "no differences\n"));
    snapshot("diff_stored_needs_db", &["policy", "diff", "expense.report@3", EXAMPLE], 2);
    assert_eq!(run(&["policy", "diff", EXAMPLE, "tests/fixtures/missing.yaml"]).code, 2);
}

const DIRECTORY: &str = "tests/fixtures/expense-directory.yaml";

#[test]
fn simulate_the_demo_amounts() {
    snapshot(
        "simulate_500",
        &["simulate", EXAMPLE, "--context", "{\"amount\": 500, \"submitter\": \"sam\", \"manager\": \"mia\"}", "--requester", "sam", "--directory", DIRECTORY],
        0,
    );
    snapshot(
        "simulate_5000",
        &["simulate", EXAMPLE, "--context", "{\"amount\": 5000, \"submitter\": \"sam\", \"manager\": \"mia\"}", "--requester", "sam", "--directory", DIRECTORY],
        0,
    );
    snapshot("simulate_12500", &["simulate", EXAMPLE, "--context", "tests/fixtures/context-12500.json", "--requester", "sam", "--directory", DIRECTORY], 0);
    snapshot("simulate_12500_json", &["simulate", EXAMPLE, "--context", "tests/fixtures/context-12500.json", "--requester", "sam", "--directory", DIRECTORY, "--json"], 0);
}

#[test]
fn simulate_without_a_directory_says_what_it_could_not_resolve() {
    snapshot("simulate_no_directory", &["simulate", EXAMPLE, "--context", "tests/fixtures/context-12500.json", "--requester", "sam"], 0);
}

#[test]
fn simulate_refuses_bad_input() {
    snapshot("simulate_broken_policy", &["simulate", "../examples/expense-report-broken.yaml", "--context", "{}"], 1);
    snapshot("simulate_bad_context", &["simulate", EXAMPLE, "--context", "{\"amount\": \"lots\"}"], 1);
    assert_eq!(run(&["simulate", EXAMPLE, "--context", "tests/fixtures/missing.json"]).code, 2);
    assert_eq!(run(&["simulate", EXAMPLE]).code, 2, "--context is required");
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}");
        assert!(r.stdout.contains("awe") && r.stdout.contains("lint"), "{shell}");
    }
    assert_eq!(run(&["completions", "tcsh"]).code, 2);
}

#[test]
fn every_command_has_examples_in_its_help() {
    snapshot("help", &["--help"], 0);
    for cmd in [&["policy", "lint"][..], &["policy", "fmt"], &["policy", "diff"], &["simulate"], &["completions"]] {
        let args: Vec<&str> = cmd.iter().copied().chain(["--help"]).collect();
        let r = run(&args);
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains("Examples:\n  awe "), "{cmd:?} help has no examples:\n{}", r.stdout);
    }
}
