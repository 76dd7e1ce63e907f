//! `awe token`: the token verifies with the local secret and carries the
//! claims asked for; without a local secret the command refuses.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

const AWE: &str = env!("CARGO_BIN_EXE_awe");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("awe-token-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn awe(dir: &PathBuf, secret: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(AWE);
    cmd.current_dir(dir).args(args).env_remove("AWE_JWT_SECRET");
    if let Some(s) = secret {
        cmd.env("AWE_JWT_SECRET", s);
    }
    cmd.output().unwrap()
}

/// Checks the signature with `secret` and returns the claims.
fn verify(token: &str, secret: &str) -> serde_json::Value {
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).expect("the signature verifies with the local secret");
    let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn a_token_from_the_environment_secret_carries_the_claims() {
    let dir = scratch("env");
    let out = awe(&dir, Some("s3cret-for-tests"), &["token", "--sub", "mia", "--role", "awe_approver", "--tenant", "expenses", "--ttl", "30m"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let claims = verify(&String::from_utf8(out.stdout).unwrap(), "s3cret-for-tests");
    assert_eq!(claims["sub"], "mia");
    assert_eq!(claims["role"], "awe_approver");
    assert_eq!(claims["tenant"], "expenses");
    let exp = claims["exp"].as_i64().unwrap();
    assert!((exp - (now() + 1800)).abs() <= 5, "exp is now + 30m, got {exp}");
}

#[test]
fn the_secret_is_read_from_the_dev_env_file() {
    let dir = scratch("file");
    fs::create_dir_all(dir.join(".awe")).unwrap();
    fs::write(dir.join(".awe/dev.env"), "DATABASE_URL=postgres://x\nAWE_JWT_SECRET=from-the-file\n").unwrap();
    let out = awe(&dir, None, &["token", "--sub", "ada", "--role", "awe_admin", "--tenant", "t1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let claims = verify(&String::from_utf8(out.stdout).unwrap(), "from-the-file");
    assert_eq!(claims["role"], "awe_admin");
    let exp = claims["exp"].as_i64().unwrap();
    assert!((exp - (now() + 8 * 3600)).abs() <= 5, "the default ttl is 8h");
}

#[test]
fn without_a_local_secret_it_refuses() {
    let dir = scratch("none");
    let out = awe(&dir, None, &["token", "--sub", "mia", "--role", "awe_approver", "--tenant", "expenses"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no token is printed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no local signing secret"));
}

#[test]
fn only_the_rest_roles_and_awe_durations_are_accepted() {
    let dir = scratch("bad");
    let out = awe(&dir, Some("x"), &["token", "--sub", "mia", "--role", "postgres", "--tenant", "t"]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown role");
    let out = awe(&dir, Some("x"), &["token", "--sub", "mia", "--role", "awe_viewer", "--tenant", "t", "--ttl", "8 hours"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ttl"));
}
