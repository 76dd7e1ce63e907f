//! `awe token`: an HS256 JWT for the local stack, signed with the secret
//! `make up` writes to .awe/dev.env, so people and scripts can call the
//! REST API and open the console as a demo user. It refuses without that
//! secret: it is never a way to mint production tokens (those come from
//! Keycloak, RS256, and awe never holds their key).

use crate::args::TokenArgs;
use crate::exit;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn run(args: &TokenArgs) -> i32 {
    let secret = match local_secret(&args.env_file) {
        Some(s) => s,
        None => {
            eprintln!(
                "awe token: no local signing secret: set AWE_JWT_SECRET or run `make up` (it writes {}).\n\
                 Tokens for a real deployment come from its identity provider, not from here.",
                args.env_file.display()
            );
            return exit::TROUBLE;
        }
    };
    let ttl = match awe_core::duration::parse_duration(&args.ttl) {
        Ok(seconds) => seconds,
        Err(e) => {
            eprintln!("awe token: --ttl {}: {e}", args.ttl);
            return exit::TROUBLE;
        }
    };
    if args.sub.trim().is_empty() || args.tenant.trim().is_empty() {
        eprintln!("awe token: --sub and --tenant must not be empty");
        return exit::TROUBLE;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let claims = serde_json::json!({
        "sub": args.sub,
        "role": args.role.claim(),
        "tenant": args.tenant,
        "iat": now,
        "exp": now + ttl,
    });
    let token = sign_hs256(&secret, &claims);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"token": token, "claims": claims})).expect("JSON of plain data"));
    } else {
        println!("{token}");
    }
    exit::SUCCESS
}

/// AWE_JWT_SECRET, else the AWE_JWT_SECRET line of the env file; never empty.
fn local_secret(env_file: &Path) -> Option<String> {
    if let Ok(s) = std::env::var("AWE_JWT_SECRET") {
        if !s.trim().is_empty() {
            return Some(s.trim().to_string());
        }
    }
    let text = std::fs::read_to_string(env_file).ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("AWE_JWT_SECRET="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .find(|v| !v.is_empty())
}

/// header.payload.signature, each base64url without padding (RFC 7515).
pub fn sign_hs256(secret: &str, claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}
