//! The database side of `awe`: which database (--db, DATABASE_URL, or the
//! checkout's .awe/dev.env), the session (awe.tenant, awe.actor), queries
//! whose answer is JSON, and how a failure is told: an AWE-… error with its
//! code, message, the problems and paths of its DETAIL, and its hint; never
//! a Rust backtrace.

use crate::args::DbArgs;
use crate::exit;
use postgres::types::ToSql;
use postgres::{Client, Config};
use postgres_native_tls::MakeTlsConnector;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Why a command stopped, and how to say it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// exit::FOUND (the database refused, a check failed) or exit::TROUBLE.
    pub exit: i32,
    /// The AWE-… code, when the database raised one.
    pub code: Option<String>,
    pub sqlstate: Option<String>,
    pub message: String,
    /// The DETAIL's `details`, as the database sent them.
    pub details: Option<Value>,
    pub hint: Option<String>,
}

impl Failure {
    /// A bad argument, an unreadable file, no database named: exit 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { exit: exit::TROUBLE, code: None, sqlstate: None, message: message.into(), details: None, hint: None }
    }

    /// The operation did not succeed (not a database error): exit 1.
    pub fn refused(message: impl Into<String>) -> Failure {
        Failure { exit: exit::FOUND, ..Failure::usage(message) }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    /// A database error is a refusal (exit 1): the database answered. A
    /// lost or failed connection is exit 2.
    pub fn from_pg(e: &postgres::Error) -> Failure {
        let Some(d) = e.as_db_error() else {
            return Failure::usage(format!("database: {}", chain(e)));
        };
        let detail: Option<Value> = d.detail().and_then(|t| serde_json::from_str(t).ok());
        let message = d.message().to_string();
        let code = message.split(':').next().filter(|c| c.starts_with("AWE-")).map(str::to_string);
        let mut f = Failure {
            exit: exit::FOUND,
            code,
            sqlstate: Some(d.code().code().to_string()),
            message,
            details: detail.as_ref().and_then(|v| v.get("details")).cloned(),
            hint: d.hint().map(str::to_string),
        };
        if f.code.is_none() {
            // A plain PostgreSQL error: show what it is about.
            if detail.is_none() {
                if let Some(text) = d.detail() {
                    f.details = Some(Value::String(text.to_string()));
                }
            }
            let state = d.code().code();
            if (state == "42883" || state == "3F000" || state == "42P01") && f.message.contains("awe") {
                f.hint.get_or_insert_with(|| "is awe installed in this database? (create extension awe; docs/operations.md)".into());
            } else if state == "42501" {
                f.hint.get_or_insert_with(|| "the role connected lacks the right; awe's DBA views need a superuser".into());
            }
        }
        f
    }

    /// The problems of the DETAIL, one line each: `path: message [code]`.
    pub fn problem_lines(&self) -> Vec<String> {
        let Some(details) = &self.details else { return Vec::new() };
        let mut lines = Vec::new();
        match details {
            Value::Object(map) => {
                if let Some(Value::Array(problems)) = map.get("problems") {
                    for p in problems {
                        lines.push(problem_line(p));
                    }
                }
                if let Some(path) = map.get("path").and_then(Value::as_str) {
                    let at = map.get("line").and_then(Value::as_u64).map(|l| format!(" (line {l})")).unwrap_or_default();
                    lines.push(format!("at {}{at}", if path.is_empty() { "the top" } else { path }));
                }
                for (k, v) in map {
                    if k == "problems" || k == "path" || k == "line" || k == "column" {
                        continue;
                    }
                    lines.push(format!("{k}: {}", compact(v)));
                }
            }
            Value::Array(items) => lines.extend(items.iter().map(problem_line)),
            other => lines.push(compact(other)),
        }
        lines
    }

    /// On stderr for people; with `json`, also `{"error": …}` on stdout.
    pub fn print(&self, json: bool) -> i32 {
        match (&self.code, &self.sqlstate) {
            // PostgreSQL's own errors: their SQLSTATE says what kind.
            (None, Some(state)) => eprintln!("awe: {} (SQLSTATE {state})", self.message),
            _ => eprintln!("awe: {}", self.message),
        }
        for line in self.problem_lines() {
            eprintln!("  {line}");
        }
        if let Some(h) = &self.hint {
            eprintln!("hint: {h}");
        }
        if json {
            let doc = json!({"error": {
                "code": self.code, "sqlstate": self.sqlstate, "message": self.message,
                "details": self.details, "hint": self.hint, "exit": self.exit,
            }});
            println!("{}", pretty(&doc));
        }
        self.exit
    }
}

impl From<postgres::Error> for Failure {
    fn from(e: postgres::Error) -> Failure {
        Failure::from_pg(&e)
    }
}

fn problem_line(p: &Value) -> String {
    match p {
        Value::Object(o) => {
            let path = o.get("path").and_then(Value::as_str).unwrap_or("");
            let message = o.get("message").map(|m| m.as_str().map(str::to_string).unwrap_or_else(|| compact(m))).unwrap_or_default();
            let code = o.get("code").and_then(Value::as_str).map(|c| format!(" [{c}]")).unwrap_or_default();
            if path.is_empty() { format!("{message}{code}") } else { format!("{path}: {message}{code}") }
        }
        other => compact(other),
    }
}

/// An error and its causes, "a: b: c".
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

pub fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON of plain data")
}

/// `.awe/dev.env` of the checkout around the current directory, if any.
pub fn find_dev_env() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let candidate = dir.join(".awe/dev.env");
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// A `KEY=value` line of an env file.
pub fn env_file_value(path: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
        .map(|v| v.trim().trim_matches('"').to_string())
        .find(|v| !v.is_empty())
}

/// A setting: the flag, else the environment variable, else the checkout's
/// .awe/dev.env; with where it came from.
pub fn setting(flag: Option<&str>, flag_name: &str, var: &str) -> Option<(String, String)> {
    if let Some(v) = flag.filter(|v| !v.is_empty()) {
        return Some((v.to_string(), flag_name.to_string()));
    }
    if let Ok(v) = std::env::var(var) {
        if !v.trim().is_empty() {
            return Some((v.trim().to_string(), var.to_string()));
        }
    }
    let file = find_dev_env()?;
    env_file_value(&file, var).map(|v| (v, file.display().to_string()))
}

/// A connection string without its password, for messages.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((auth, host)) = rest.rsplit_once('@') {
            if let Some((user, _)) = auth.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
        return url.to_string();
    }
    // key=value form
    url.split_whitespace()
        .map(|kv| if kv.starts_with("password=") { "password=***" } else { kv })
        .collect::<Vec<_>>()
        .join(" ")
}

fn env_or(flag: &Option<String>, var: &str) -> Option<String> {
    flag.clone().filter(|v| !v.is_empty()).or_else(|| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
}

/// Where the database is, before connecting: `(url, where it came from)`.
pub fn locate(args: &DbArgs) -> Result<(String, String), Failure> {
    setting(args.db.as_deref(), "--db", "DATABASE_URL").ok_or_else(|| {
        Failure::usage("no database: pass --db URL or set DATABASE_URL")
            .with_hint("inside a checkout, `make up` writes .awe/dev.env, which awe reads")
    })
}

/// Whether a database was named explicitly (--db or DATABASE_URL), not
/// only found in a checkout: decides whether `simulate FILE` goes online.
pub fn named_explicitly(args: &DbArgs) -> bool {
    env_or(&args.db, "DATABASE_URL").is_some()
}

/// A connection acting for the tenant and actor given.
pub struct Db {
    pub client: Client,
    pub tenant: Option<String>,
    pub actor: Option<String>,
}

impl Db {
    pub fn connect(args: &DbArgs) -> Result<Db, Failure> {
        let (url, source) = locate(args)?;
        let mut config = Config::from_str(&url).map_err(|e| Failure::usage(format!("{source}: not a connection string: {e}")))?;
        if config.get_password().is_none() {
            if let Some(p) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
                config.password(p.to_string_lossy().as_bytes());
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("awe-cli");
        }
        let tenant = env_or(&args.tenant, "AWE_TENANT");
        let actor = env_or(&args.actor, "AWE_ACTOR");
        if args.verbose {
            eprintln!("awe: database {} (from {source})", redact(&url));
            eprintln!("awe: tenant {}, actor {}",
                tenant.as_deref().unwrap_or("(none: the one the login role is mapped to)"),
                actor.as_deref().unwrap_or("(none: the login role)"));
        }
        let client = config
            .connect(tls()?)
            .map_err(|e| Failure::usage(format!("cannot connect to {} (from {source}): {}", redact(&url), chain(&e))))?;
        let mut db = Db { client, tenant, actor };
        db.client.batch_execute("set timezone = 'UTC'").map_err(|e| db.fail(e))?;
        let (tenant, actor) = (db.tenant.clone(), db.actor.clone());
        if let Some(t) = &tenant {
            db.client.execute("select set_config('awe.tenant', $1, false)", &[t]).map_err(|e| db.fail(e))?;
        }
        if let Some(a) = &actor {
            db.client.execute("select set_config('awe.actor', $1, false)", &[a]).map_err(|e| db.fail(e))?;
        }
        Ok(db)
    }

    /// A failure, with a hint when the tenant or actor was not given.
    pub fn fail(&self, e: postgres::Error) -> Failure {
        let mut f = Failure::from_pg(&e);
        match f.code.as_deref() {
            Some("AWE-TENANT-UNKNOWN") if self.tenant.is_none() => {
                f.hint = Some("pass --tenant ID or set AWE_TENANT".into());
            }
            Some("AWE-NOT-ASSIGNEE") | Some("AWE-FORBIDDEN") | Some("AWE-UNAUTHENTICATED") if self.actor.is_none() => {
                let mut h = f.hint.take().map(|h| format!("{h}; ")).unwrap_or_default();
                h.push_str("awe acted as the login role: pass --actor ID or set AWE_ACTOR");
                f.hint = Some(h);
            }
            _ => {}
        }
        f
    }

    /// One column of at most one row, cast to text in `sql`, read as JSON
    /// (no row, or NULL: Null).
    pub fn json(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Value, Failure> {
        let row = self.client.query_opt(sql, params).map_err(|e| self.fail(e))?;
        let text: Option<String> = row.and_then(|r| r.get(0));
        Ok(match text {
            None => Value::Null,
            Some(t) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
        })
    }

    /// Every row of `select …` as a JSON object (its columns), in its order.
    pub fn rows(&mut self, select: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Value>, Failure> {
        let sql = format!("select coalesce(json_agg(q), '[]'::json)::text from ({select}) q");
        match self.json(&sql, params)? {
            Value::Array(rows) => Ok(rows),
            other => Ok(vec![other]),
        }
    }

    pub fn exec(&mut self, sql: &str) -> Result<(), Failure> {
        self.client.batch_execute(sql).map_err(|e| self.fail(e))
    }
}

/// TLS for connections that use it (sslmode prefer, the default, or
/// require): the server's certificate is verified against the system's
/// roots, and PGSSLROOTCERT's when that names a PEM file.
fn tls() -> Result<MakeTlsConnector, Failure> {
    let mut builder = native_tls::TlsConnector::builder();
    if let Some(path) = std::env::var_os("PGSSLROOTCERT").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| Failure::usage(format!("PGSSLROOTCERT {}: {e}", Path::new(&path).display())))?;
        let cert = native_tls::Certificate::from_pem(&pem)
            .map_err(|e| Failure::usage(format!("PGSSLROOTCERT {}: not a PEM certificate: {e}", Path::new(&path).display())))?;
        builder.add_root_certificate(cert);
    }
    let connector = builder.build().map_err(|e| Failure::usage(format!("TLS: {e}")))?;
    Ok(MakeTlsConnector::new(connector))
}

/// `YYYY-MM-DD HH:MM:SS` of a timestamp as PostgreSQL's JSON gives it (the
/// session runs in UTC); empty for null.
pub fn time(v: &Value) -> String {
    match v.as_str() {
        Some(s) if s.len() >= 19 => s[..19].replace('T', " "),
        Some(s) => s.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/app"), "postgres://app:***@db:5432/app");
        assert_eq!(redact("postgres://postgres@127.0.0.1:54329/awe"), "postgres://postgres@127.0.0.1:54329/awe");
        assert_eq!(redact("host=db user=app password=s3cret dbname=app"), "host=db user=app password=*** dbname=app");
    }

    #[test]
    fn problems_become_lines() {
        let f = Failure {
            details: Some(json!({"problems": [{"path": "stages[0].mode", "code": "value", "message": "unknown mode"}, {"path": "", "message": "x"}],
                                 "counts": {"deactivated": 3}})),
            ..Failure::refused("AWE-POLICY-INVALID: the policy is invalid")
        };
        assert_eq!(f.problem_lines(), vec!["stages[0].mode: unknown mode [value]", "x", "counts: {\"deactivated\":3}"]);
    }

    #[test]
    fn times_are_short() {
        assert_eq!(time(&json!("2026-11-30T12:34:56.123456+00:00")), "2026-11-30 12:34:56");
        assert_eq!(time(&Value::Null), "");
    }
}
