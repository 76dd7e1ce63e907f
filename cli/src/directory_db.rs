//! `awe directory import FILE` (awe.import_directory), `awe directory sync`
//! (awe.sync_directory, then waiting on awe.directory_sync_status until the
//! worker finished a new attempt) and `awe directory status`.

use crate::args::{DirectoryImportArgs, DirectoryStatusArgs, DirectorySyncArgs};
use crate::db::{compact, pretty, time, Db, Failure};
use crate::exit;
use crate::files::{self, Text};
use awe_core::document::{read_document, Format, MAX_DOCUMENT_BYTES};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// A directory document: strictly read (repeated keys refused) up to the
/// policy reader's 1 MiB; a bigger document is read by the plain parsers.
fn read_directory(path: &Path) -> Result<Value, Failure> {
    let name = path.display();
    let text = match files::read_text(path) {
        Ok(Text::Read(t)) => t,
        Ok(Text::NotUtf8) => return Err(Failure::usage(format!("{name}: not UTF-8 text"))),
        Err(e) => return Err(Failure::usage(e)),
    };
    let format = Format::from_path(path).unwrap_or(Format::Yaml);
    if text.len() <= MAX_DOCUMENT_BYTES {
        return read_document(&text, format).map_err(|e| Failure::usage(format!("{name}: {e}")));
    }
    match format {
        Format::Json => serde_json::from_str(&text).map_err(|e| Failure::usage(format!("{name}: {e}"))),
        Format::Yaml => serde_yaml::from_str(&text).map_err(|e| Failure::usage(format!("{name}: {e}"))),
    }
}

/// What a DiffCounts object says changed, in words, zeros left out:
/// `6 principals added, 1 updated, 2 deactivated, 3 role grants added`.
fn changes(counts: &Value) -> String {
    const WORDS: [(&str, &str); 7] = [
        ("principals_added", "principals added"),
        ("updated", "principals updated"),
        ("deactivated", "principals deactivated"),
        ("grants_added", "role grants added"),
        ("grants_removed", "role grants removed"),
        ("memberships_added", "group memberships added"),
        ("memberships_removed", "group memberships removed"),
    ];
    let parts: Vec<String> = WORDS
        .iter()
        .filter_map(|(key, words)| counts[*key].as_i64().filter(|n| *n != 0).map(|n| format!("{n} {words}")))
        .collect();
    if parts.is_empty() { "nothing changed".into() } else { parts.join(", ") }
}

pub fn import(args: &DirectoryImportArgs) -> i32 {
    let run = || -> Result<Value, Failure> {
        let doc = read_directory(&args.file)?;
        let mut db = Db::connect(&args.db)?;
        let bar = if args.json { ProgressBar::hidden() } else { spinner("importing") };
        let out = db.json("select awe.import_directory($1::text::jsonb, $2)::text", &[&doc.to_string(), &args.force]);
        bar.finish_and_clear();
        out.map_err(|mut f| {
            if f.message.contains("force => true") {
                f.hint = Some("awe directory import --force applies it anyway".into());
            }
            f
        })
    };
    match run() {
        Ok(out) => {
            if args.json {
                println!("{}", pretty(&out));
            } else {
                println!(
                    "imported {}: {} principals, {} roles, {} groups; {}",
                    args.file.display(), compact(&out["principals"]), compact(&out["roles"]), compact(&out["groups"]),
                    changes(&out["counts"])
                );
            }
            exit::SUCCESS
        }
        Err(f) => f.print(args.json),
    }
}

fn status_row(db: &mut Db) -> Result<Value, Failure> {
    let s = db.json("select (to_jsonb(s) - 'tenant_id')::text from awe.directory_sync_status s", &[])?;
    if s.is_null() {
        let tenant = db.tenant.clone().unwrap_or_else(|| "this tenant".into());
        return Err(Failure::refused(format!("{tenant} has no directory source"))
            .with_hint("awe.set_directory_source(...) registers one (docs/directory.md); `awe directory import FILE` needs none"));
    }
    Ok(s)
}

pub fn sync(args: &DirectorySyncArgs) -> i32 {
    match run_sync(args) {
        Ok((status, code)) => {
            if args.json {
                println!("{}", pretty(&status));
            } else if !args.no_wait {
                print_outcome(&status);
            } else {
                println!("sync asked for; the worker starts it within a poll interval (`awe directory status` shows it)");
            }
            code
        }
        Err(f) => f.print(args.json),
    }
}

fn run_sync(args: &DirectorySyncArgs) -> Result<(Value, i32), Failure> {
    let timeout = awe_core::duration::parse_duration(&args.timeout).map_err(|e| Failure::usage(format!("--timeout: {e}")))?;
    let mut db = Db::connect(&args.db)?;
    let before = status_row(&mut db)?["last_attempt_at"].clone();
    let asked = db.json("select awe.sync_directory($1)::text", &[&args.force])?;
    if args.no_wait {
        return Ok((asked, exit::SUCCESS));
    }
    let bar = if args.json { ProgressBar::hidden() } else { spinner("waiting for the worker to sync the directory") };
    let started = Instant::now();
    let status = loop {
        let s = status_row(&mut db)?;
        if s["running"] == true {
            bar.set_message("syncing");
        }
        if s["last_attempt_at"] != before && s["running"] == false {
            break s;
        }
        if started.elapsed() >= Duration::from_secs(timeout as u64) {
            bar.finish_and_clear();
            return Err(Failure::refused(format!("the worker did not finish a sync within {}", args.timeout))
                .with_hint("`awe doctor` checks the worker; `awe directory status` shows the source"));
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    bar.finish_and_clear();
    let code = if status["last_error_code"].is_null() && status["last_error"].is_null() { exit::SUCCESS } else { exit::FOUND };
    Ok((status, code))
}

/// What the last attempt did, in a few lines.
fn print_outcome(s: &Value) {
    let took = s["last_duration_ms"].as_i64().map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0)).unwrap_or_default();
    if s["last_error_code"].is_null() && s["last_error"].is_null() {
        let c = &s["last_counts"];
        println!(
            "synced {} realm {}{took}: {} principals, {} roles ({} grants), {} groups ({} memberships); {}",
            compact(&s["base_url"]), compact(&s["realm"]),
            compact(&c["principals"]), compact(&c["roles"]), compact(&c["grants"]), compact(&c["groups"]), compact(&c["memberships"]),
            changes(&c["changes"])
        );
    } else {
        println!("sync FAILED{took}: {} ({})", compact(&s["last_error"]), compact(&s["last_error_code"]));
        println!("  {} failure(s) in a row; nothing was applied; the last good directory stays", compact(&s["consecutive_failures"]));
        if s["last_error_code"] == "guard" {
            println!("hint: awe directory sync --force applies it anyway");
        }
    }
}

pub fn status(args: &DirectoryStatusArgs) -> i32 {
    let run = || -> Result<Value, Failure> {
        let mut db = Db::connect(&args.db)?;
        status_row(&mut db)
    };
    match run() {
        Ok(s) => {
            let failed = !s["last_error_code"].is_null();
            if args.json {
                println!("{}", pretty(&s));
            } else {
                let rows: Vec<(&str, String)> = vec![
                    ("source", format!("{} {} realm {} (client {})", compact(&s["kind"]), compact(&s["base_url"]), compact(&s["realm"]), compact(&s["client_id"]))),
                    ("interval", compact(&s["sync_interval"])),
                    ("running", compact(&s["running"])),
                    ("next sync", time(&s["next_sync_at"])),
                    ("last attempt", time(&s["last_attempt_at"])),
                    ("last success", time(&s["last_success_at"])),
                    ("last counts", compact(&s["last_counts"])),
                    ("last error", if failed { format!("{} ({})", compact(&s["last_error"]), compact(&s["last_error_code"])) } else { String::new() }),
                    ("failures", compact(&s["consecutive_failures"])),
                ];
                for (label, value) in rows {
                    println!("{label:<13} {value}");
                }
            }
            if failed { exit::FOUND } else { exit::SUCCESS }
        }
        Err(f) => f.print(args.json),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn changes_skip_zeros() {
        let c = serde_json::json!({"added": 2, "principals_added": 2, "updated": 0, "grants_added": 1});
        assert_eq!(super::changes(&c), "2 principals added, 1 role grants added");
        assert_eq!(super::changes(&serde_json::json!({"added": 0})), "nothing changed");
    }
}
