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

/// Runs `awe` in `dir` (the package directory when `None`), with no
/// database named in the environment: offline commands stay offline (a
/// checkout's .awe/dev.env is only read by commands that need a database,
/// and those tests name an unreachable one with --db).
fn run_in(dir: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new(AWE);
    cmd.args(args).env("NO_COLOR", "1");
    for var in ["DATABASE_URL", "AWE_TENANT", "AWE_ACTOR", "AWE_REST_URL", "AWE_JWT_SECRET"] {
        cmd.env_remove(var);
    }
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

/// A database that is not there (port 9, discard): connecting fails at once.
const NO_DB: &str = "postgres://nobody@127.0.0.1:9/none";

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
    snapshot("diff_stored_no_database", &["policy", "diff", "expense.report@3", EXAMPLE, "--db", NO_DB], 2);
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

/// Every command that does something (groups only list their commands).
const COMMANDS: [&[&str]; 17] = [
    &["policy", "lint"], &["policy", "fmt"], &["policy", "diff"], &["policy", "push"], &["policy", "ls"],
    &["simulate"], &["request", "show"], &["inbox"], &["decide"], &["deliveries", "ls"], &["deliveries", "replay"],
    &["directory", "import"], &["directory", "sync"], &["directory", "status"], &["doctor"], &["token"], &["completions"],
];

#[test]
fn every_command_has_examples_and_exit_codes_in_its_help() {
    snapshot("help", &["--help"], 0);
    // All of them in one snapshot, so a change to any help shows in review.
    let mut all = String::new();
    for cmd in COMMANDS {
        let args: Vec<&str> = cmd.iter().copied().chain(["--help"]).collect();
        let r = run(&args);
        assert_eq!(r.code, 0, "{cmd:?}");
        assert!(r.stdout.contains("Examples:\n  awe "), "{cmd:?} help has no examples:\n{}", r.stdout);
        assert!(r.stdout.contains("Exit codes: 0 "), "{cmd:?} help gives no exit codes:\n{}", r.stdout);
        all.push_str(&format!("$ awe {}\n{}\n", args.join(" "), r.stdout));
    }
    for group in ["policy", "request", "deliveries", "directory"] {
        let r = run(&[group, "--help"]);
        assert_eq!(r.code, 0, "{group}");
        assert!(r.stdout.contains("Examples:\n  awe "), "{group} help has no examples:\n{}", r.stdout);
        all.push_str(&format!("$ awe {group} --help\n{}\n", r.stdout));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/help_commands.txt");
    if std::env::var_os("AWE_UPDATE_SNAPSHOTS").is_some() {
        fs::write(&path, &all).unwrap();
    } else {
        let expected = fs::read_to_string(&path).expect("tests/snapshots/help_commands.txt; run with AWE_UPDATE_SNAPSHOTS=1");
        assert!(expected == all, "the help of a command changed; run with AWE_UPDATE_SNAPSHOTS=1 and review the diff");
    }
}

#[test]
fn database_commands_without_a_database() {
    // Nothing named, and no checkout around the directory: exit 2, and why.
    let elsewhere = scratch("nodb");
    let r = run_in(Some(&elsewhere), &["policy", "ls"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, "awe: no database: pass --db URL or set DATABASE_URL\nhint: inside a checkout, `make up` writes .awe/dev.env, which awe reads\n");
    let r = run_in(Some(&elsewhere), &["simulate", "expense.report", "--context", "{}", "--json"]);
    assert_eq!(r.code, 2, "a KEY is a stored policy: it needs a database");
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("--json: the error as JSON on stdout");
    assert_eq!(doc["error"]["exit"], 2);
    assert!(doc["error"]["message"].as_str().unwrap().starts_with("no database"));
    let _ = fs::remove_dir_all(&elsewhere);
    // A database that does not answer: exit 2, the address without a password.
    snapshot("policy_ls_no_database", &["policy", "ls", "--db", "postgres://nobody:secret@127.0.0.1:9/none", "--json"], 2);
    for args in [
        &["doctor", "--db", NO_DB][..],
        &["inbox", "mia", "--db", NO_DB],
        &["deliveries", "ls", "--db", NO_DB],
        &["directory", "sync", "--db", NO_DB],
        &["directory", "status", "--db", NO_DB],
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.starts_with("awe: cannot connect to postgres://nobody@127.0.0.1:9/none (from --db): "), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn database_commands_check_their_arguments_first() {
    // Usage errors are found before connecting (the database named is not there).
    snapshot("request_show_bad_id", &["request", "show", "12345", "--db", NO_DB], 2);
    snapshot("decide_bad_task", &["decide", "not-a-task", "approve", "--db", NO_DB], 2);
    assert_eq!(run(&["decide", "0190b5c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d", "approve", "--data", "{\"a\": ", "--db", NO_DB]).code, 2, "bad --data JSON");
    assert_eq!(run(&["deliveries", "replay", "--db", NO_DB]).code, 2, "replay names what to replay");
    assert_eq!(run(&["deliveries", "replay", "--since", "1h", "--timeout", "soon", "--db", NO_DB]).code, 2);
    assert_eq!(run(&["deliveries", "ls", "--dead", "--status", "pending", "--db", NO_DB]).code, 2);
    assert_eq!(run(&["directory", "import", "tests/fixtures/missing.yaml", "--db", NO_DB]).code, 2);
    // A policy set with problems is not pushed: linted first, no connection tried.
    snapshot("push_broken", &["policy", "push", "../examples/expense-report-broken.yaml", "--db", NO_DB], 1);
    let r = run(&["policy", "push", "tests/corpus/nested", "../examples/expense-report-broken.yaml", "--json", "--db", NO_DB]);
    assert_eq!(r.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["error"]["message"], "1 file with problems; nothing pushed");
}

#[test]
fn token_json() {
    let r = run_in(None, &["token", "--sub", "mia", "--role", "awe_viewer", "--tenant", "t", "--json", "--env-file", "tests/fixtures/missing.env"]);
    assert_eq!(r.code, 2, "no local secret");
    let dir = scratch("token");
    fs::write(dir.join("dev.env"), "AWE_JWT_SECRET=s\n").unwrap();
    let env = dir.join("dev.env");
    let r = run(&["token", "--sub", "mia", "--role", "awe_viewer", "--tenant", "t", "--json", "--env-file", env.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["claims"]["sub"], "mia");
    assert_eq!(doc["token"].as_str().unwrap().split('.').count(), 3);
    let _ = fs::remove_dir_all(&dir);
}
