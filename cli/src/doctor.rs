//! `awe doctor`: checks an installation the way docs/operations.md says to
//! watch one, each check a line `ok|warn|fail  what — what to do`. The
//! worker, backlog, dead-letter and directory-source views are the DBA's
//! (superuser); without the right a check says so rather than guessing.

use crate::args::DoctorArgs;
use crate::db::{self, compact, pretty, redact, time, Db, Failure};
use crate::exit;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    /// What was found.
    pub found: String,
    /// What to do about it (empty when nothing).
    pub advice: String,
}

fn check(check: &'static str, status: Status, found: impl Into<String>, advice: impl Into<String>) -> Check {
    Check { check, status, found: found.into(), advice: advice.into() }
}

/// A check whose query failed: for want of a right, or because awe is not there.
fn failed_query(name: &'static str, what: &str, f: &Failure) -> Check {
    if f.sqlstate.as_deref() == Some("42501") {
        check(name, Status::Warn, format!("cannot read {what}: permission denied"), "this check needs a superuser: run awe doctor as one")
    } else {
        check(name, Status::Fail, format!("reading {what}: {}", f.message), f.hint.clone().unwrap_or_default())
    }
}

pub fn run(args: &DoctorArgs) -> i32 {
    let mut db = match Db::connect(&args.db) {
        Ok(db) => db,
        Err(f) => {
            // Not connecting is the first failed check, and the last.
            return f.print(args.json);
        }
    };
    let checks = checks(&mut db, args);
    let fails = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warns = checks.iter().filter(|c| c.status == Status::Warn).count();
    if args.json {
        println!("{}", pretty(&json!({"checks": checks, "ok": fails == 0, "fail": fails, "warn": warns})));
    } else {
        for c in &checks {
            println!("{}", line(c));
        }
        println!("{} checks: {} ok, {warns} warn, {fails} fail", checks.len(), checks.len() - warns - fails);
    }
    if fails > 0 { exit::FOUND } else { exit::SUCCESS }
}

/// `ok    worker: heartbeat 0.4 s ago — what to do`.
pub fn line(c: &Check) -> String {
    let status = match c.status {
        Status::Ok => "ok",
        Status::Warn => "warn",
        Status::Fail => "fail",
    };
    let advice = if c.advice.is_empty() { String::new() } else { format!(" — {}", c.advice) };
    format!("{status:<5} {}: {}{advice}", c.check, c.found)
}

fn checks(db: &mut Db, args: &DoctorArgs) -> Vec<Check> {
    let mut out = Vec::new();
    // The server and awe's extension in this database.
    let server = db.json(
        "select json_build_object('version', current_setting('server_version'), 'database', current_database(),
                'awe_database', current_setting('awe.database', true),
                'extension', (select extversion from pg_extension where extname = 'awe'),
                'superuser', (select rolsuper from pg_roles where rolname = current_user), 'user', current_user)::text",
        &[],
    );
    let server = match server {
        Ok(s) => s,
        Err(f) => {
            out.push(check("database", Status::Fail, f.message.clone(), f.hint.clone().unwrap_or_default()));
            return out;
        }
    };
    let database = compact(&server["database"]);
    let superuser = server["superuser"] == true;
    out.push(check(
        "database",
        Status::Ok,
        format!("PostgreSQL {}, database {database}, connected as {}{}", compact(&server["version"]), compact(&server["user"]),
            if superuser { " (superuser)" } else { "" }),
        "",
    ));
    match db.json("select current_setting('shared_preload_libraries')::text", &[]) {
        Err(f) => out.push(failed_query("preload", "shared_preload_libraries", &f)),
        Ok(v) => {
            let preload = compact(&v);
            let preloaded = preload.split(',').map(|l| l.trim().trim_matches('"')).any(|l| l == "awe" || l.ends_with("/awe"));
            out.push(if preloaded {
                check("preload", Status::Ok, format!("shared_preload_libraries = '{preload}'"), "")
            } else {
                check("preload", Status::Fail, format!("awe is not in shared_preload_libraries ('{preload}')"),
                    "add it (keeping the others: 'pg_stat_statements,awe') and restart PostgreSQL")
            });
        }
    }
    match server["awe_database"].as_str() {
        Some(d) if d == database => out.push(check("awe.database", Status::Ok, format!("the worker serves this database ({d})"), "")),
        Some(d) => out.push(check("awe.database", Status::Fail, format!("the worker serves database {d}, not {database}"),
            format!("set awe.database = '{database}' and restart, or run awe doctor against {d}"))),
        None => out.push(check("awe.database", Status::Fail, "awe.database is not defined (awe is not preloaded)", "preload awe and restart")),
    }
    let installed = server["extension"].as_str().map(str::to_string);
    match &installed {
        Some(v) => out.push(check("extension", Status::Ok, format!("awe {v} is installed in {database}"), "")),
        None => {
            out.push(check("extension", Status::Fail, format!("awe is not installed in {database}"), "create extension awe (as a superuser)"));
            rest(&mut out, args);
            return out;
        }
    }
    worker(db, &mut out);
    versions(db, &mut out);
    settings(db, &mut out);
    rest(&mut out, args);
    // With --tenant (AWE_TENANT), the per-tenant checks look at that tenant only.
    let tenant = db.tenant.clone();
    backlog(db, &mut out, &tenant);
    dead_letters(db, &mut out, &tenant);
    directory(db, &mut out, &tenant);
    out
}

fn worker(db: &mut Db, out: &mut Vec<Check>) {
    let row = db.json(
        "select row_to_json(w)::text from (select pid, beat_at, extract(epoch from since_last_beat)::float8 as age,
                library_version, sql_version, version_mismatch, delivered, failed, due_now from awe.worker_status) w",
        &[],
    );
    match row {
        Err(f) => out.push(failed_query("worker", "awe.worker_status", &f)),
        Ok(Value::Null) => out.push(check("worker", Status::Fail, "no heartbeat: the worker never started in this database",
            "check awe.database and the server log (lines starting \"awe worker:\")")),
        Ok(w) => {
            let age = w["age"].as_f64().unwrap_or(f64::INFINITY);
            let found = format!("heartbeat {age:.1} s ago (pid {}, {} delivered, {} failed, {} due now)",
                compact(&w["pid"]), compact(&w["delivered"]), compact(&w["failed"]), compact(&w["due_now"]));
            out.push(if age > 60.0 {
                check("worker", Status::Fail, found, "the worker is stalled or gone: see the server log (\"awe worker:\"); restarting PostgreSQL restarts it")
            } else if age > 10.0 {
                check("worker", Status::Warn, found, "the worker beats every awe.worker_poll_interval; a long transaction or a busy server can delay it")
            } else {
                check("worker", Status::Ok, found, "")
            });
            if w["version_mismatch"] == true {
                out.push(check("worker version", Status::Fail,
                    format!("the worker runs library {}, the SQL is {}", compact(&w["library_version"]), compact(&w["sql_version"])),
                    "restart PostgreSQL after installing a package, then ALTER EXTENSION awe UPDATE (docs/operations.md, Upgrade)"));
            }
        }
    }
}

fn versions(db: &mut Db, out: &mut Vec<Check>) {
    match db.json("select awe.version()::text", &[]) {
        Err(f) => out.push(failed_query("versions", "awe.version()", &f)),
        Ok(v) => {
            let found = format!("library {}, SQL {}", compact(&v["library"]), compact(&v["sql"]));
            out.push(if v["matches"] == true {
                check("versions", Status::Ok, found, "")
            } else {
                check("versions", Status::Fail, found, "run ALTER EXTENSION awe UPDATE in this database; operations refuse with AWE-VERSION-MISMATCH until then")
            });
        }
    }
}

/// The settings that shape the worker and the REST identity, shown; a
/// shifted clock (tests only) warned about.
fn settings(db: &mut Db, out: &mut Vec<Check>) {
    const SHOWN: [&str; 7] = ["awe.worker_poll_interval", "awe.worker_concurrency", "awe.webhook_timeout", "awe.delivery_retention",
        "awe.actor_claim", "awe.tenant_claim", "awe.console_url"];
    let rows = db.rows("select name, setting, unit from pg_settings where name = any($1) order by name", &[&SHOWN.to_vec()]);
    match rows {
        Err(f) => out.push(failed_query("settings", "pg_settings", &f)),
        Ok(rows) => {
            let shown: Vec<String> = rows
                .iter()
                .map(|r| {
                    let value = compact(&r["setting"]);
                    let unit = compact(&r["unit"]);
                    let value = if value.is_empty() { "(unset)".to_string() } else { value };
                    format!("{}={value}{unit}", compact(&r["name"]).trim_start_matches("awe."))
                })
                .collect();
            out.push(check("settings", Status::Ok, shown.join(", "), ""));
        }
    }
    if let Ok(offset) = db.json("select nullif(current_setting('awe.clock_offset', true), '')::text", &[]) {
        if let Some(o) = offset.as_str().filter(|o| !o.trim().is_empty() && *o != "0") {
            out.push(check("clock", Status::Warn, format!("awe.clock_offset = '{o}': awe's clock is shifted"), "for tests only: reset awe.clock_offset"));
        }
    }
}

/// The REST server: any HTTP answer to GET / means it is up.
fn rest(out: &mut Vec<Check>, args: &DoctorArgs) {
    let Some((url, source)) = db::setting(args.rest.as_deref(), "--rest", "AWE_REST_URL") else {
        out.push(check("rest", Status::Warn, "no REST URL (--rest, AWE_REST_URL or .awe/dev.env): not checked", "pass --rest URL to check it"));
        return;
    };
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::NativeTls)
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(concat!("awe-doctor/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let root = format!("{}/", url.trim_end_matches('/'));
    match agent.get(&root).call() {
        Ok(r) if r.status().as_u16() < 500 => {
            out.push(check("rest", Status::Ok, format!("{} answers GET / (HTTP {}; from {source})", redact(&url), r.status().as_u16()), ""))
        }
        Ok(r) => out.push(check("rest", Status::Fail, format!("{} answers GET / with HTTP {}", redact(&url), r.status().as_u16()),
            "see the REST server's log; it reaches PostgreSQL as the authenticator role")),
        Err(e) => out.push(check("rest", Status::Fail, format!("{} (from {source}) does not answer: {e}", redact(&url)),
            "start the REST server (PostgREST; `make up` locally) or fix the URL")),
    }
}

fn backlog(db: &mut Db, out: &mut Vec<Check>, tenant: &Option<String>) {
    let row = db.json(
        "select json_build_object(
                'late', coalesce(sum(deliveries) filter (where status = 'pending' and endpoint_enabled and oldest_due < now() - interval '5 minutes'), 0),
                'oldest', min(oldest_due) filter (where status = 'pending' and endpoint_enabled and oldest_due < now() - interval '5 minutes'),
                'held', coalesce(sum(deliveries) filter (where status = 'pending' and endpoint_enabled is false), 0),
                'pending', coalesce(sum(deliveries) filter (where status in ('pending', 'delivering')), 0))::text
           from awe.delivery_backlog where $1::text is null or tenant_id = $1",
        &[tenant],
    );
    match row {
        Err(f) => out.push(failed_query("backlog", "awe.delivery_backlog", &f)),
        Ok(b) => {
            let (late, held, pending) = (b["late"].as_i64().unwrap_or(0), b["held"].as_i64().unwrap_or(0), b["pending"].as_i64().unwrap_or(0));
            if late > 0 {
                out.push(check("backlog", Status::Warn, format!("{late} deliveries due for more than 5 minutes (oldest due {})", time(&b["oldest"])),
                    "receivers are slow or failing, or the worker is behind: awe deliveries ls --status pending; raise awe.worker_concurrency"));
            } else {
                out.push(check("backlog", Status::Ok, format!("no late deliveries ({pending} pending)"), ""));
            }
            if held > 0 {
                out.push(check("held deliveries", Status::Warn, format!("{held} deliveries wait for disabled endpoints"),
                    "enable the endpoint (awe.set_endpoint_enabled) once its receiver is fixed, or leave them held"));
            }
        }
    }
}

fn dead_letters(db: &mut Db, out: &mut Vec<Check>, tenant: &Option<String>) {
    let row = db.json(
        "select json_build_object('dead', count(*), 'day', count(*) filter (where created_at > now() - interval '1 day'),
                                  'tenants', count(distinct tenant_id))::text
           from awe.dead_letters where $1::text is null or tenant_id = $1",
        &[tenant],
    );
    match row {
        Err(f) => out.push(failed_query("dead letters", "awe.dead_letters", &f)),
        Ok(d) => {
            let n = d["dead"].as_i64().unwrap_or(0);
            out.push(if n == 0 {
                check("dead letters", Status::Ok, "none", "")
            } else {
                check("dead letters", Status::Warn,
                    format!("{n} dead letters in {} tenant(s), {} from the last day", compact(&d["tenants"]), compact(&d["day"])),
                    "awe deliveries ls --dead --tenant T shows them; awe deliveries replay --tenant T … sends them again")
            });
        }
    }
}

fn directory(db: &mut Db, out: &mut Vec<Check>, tenant: &Option<String>) {
    let rows = db.rows(
        "select tenant_id, consecutive_failures, last_error_code, last_error, last_success_at
           from awe.directory_source where consecutive_failures > 0 and ($1::text is null or tenant_id = $1)
          order by consecutive_failures desc",
        &[tenant],
    );
    let sources = db.json("select count(*)::text from awe.directory_source where $1::text is null or tenant_id = $1", &[tenant]);
    match (rows, sources) {
        (Err(f), _) | (_, Err(f)) => out.push(failed_query("directory", "awe.directory_source", &f)),
        (Ok(rows), Ok(n)) if rows.is_empty() => out.push(check("directory", Status::Ok, format!("no failing directory syncs ({} sources)", compact(&n)), "")),
        (Ok(rows), Ok(_)) => {
            for r in rows {
                let failures = r["consecutive_failures"].as_i64().unwrap_or(0);
                let tenant = compact(&r["tenant_id"]);
                out.push(check(
                    "directory",
                    if failures >= 3 { Status::Fail } else { Status::Warn },
                    format!("tenant {tenant}: {failures} failed syncs in a row ({}: {})", compact(&r["last_error_code"]), compact(&r["last_error"])),
                    format!("awe directory status --tenant {tenant}; docs/directory.md says what each error means"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(line(&check("worker", Status::Ok, "heartbeat 0.4 s ago", "")), "ok    worker: heartbeat 0.4 s ago");
        assert_eq!(line(&check("preload", Status::Fail, "awe is not preloaded", "add it")), "fail  preload: awe is not preloaded — add it");
    }
}
