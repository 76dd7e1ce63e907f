//! `awe policy push` and `awe policy ls`: policies in the database. Files
//! are linted here first (the same check as `awe policy lint`), then stored
//! by awe.import_policy, which validates them again with the database's
//! own limits; `get` reads a stored version for `awe policy diff`.

use crate::args::{PolicyLsArgs, PushArgs};
use crate::db::{compact, pretty, time, Db, Failure};
use crate::exit;
use crate::files::{self, Text};
use crate::lint::{human_line, lint_text};
use crate::table;
use awe_core::document::{read_document, Format};
use awe_core::logic::LogicCache;
use serde_json::{json, Value};

/// A stored definition: `version` a number or `active`.
pub fn get(db: &mut Db, key: &str, version: &str) -> Result<Value, Failure> {
    let version: Option<i32> = if version == "active" {
        None
    } else {
        Some(version.parse().map_err(|_| Failure::usage(format!("{key}@{version}: the version is a number or `active`")))?)
    };
    let stored = db.json("select awe.get_policy($1, $2)::text", &[&key, &version])?;
    Ok(stored.get("definition").cloned().unwrap_or(Value::Null))
}

/// A file ready to push: its text, format and definition.
struct Ready {
    name: String,
    text: String,
    format: Format,
    def: Value,
}

pub fn push(args: &PushArgs) -> i32 {
    let (inputs, errors) = files::collect(&args.paths);
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("awe: {e}");
        }
        return exit::TROUBLE;
    }
    if inputs.is_empty() {
        return Failure::usage("no policy files (*.yaml, *.yml, *.json) under the paths given").print(args.json);
    }
    // Lint everything first: nothing goes to the database from a set with problems.
    let mut logic = LogicCache::default();
    let mut ready = Vec::new();
    let mut bad = 0;
    for file in &inputs {
        let name = file.display();
        let text = match files::read_text(&file.path) {
            Ok(Text::Read(t)) => t,
            Ok(Text::NotUtf8) => {
                eprintln!("{name}: not UTF-8 text [encoding]");
                bad += 1;
                continue;
            }
            Err(e) => return Failure::usage(e).print(args.json),
        };
        let problems = lint_text(&text, file.format, &mut logic);
        if !problems.is_empty() {
            for p in &problems {
                eprintln!("{}", human_line(&name, p));
            }
            bad += 1;
            continue;
        }
        let def = read_document(&text, file.format).expect("linted documents read");
        ready.push(Ready { name, text, format: file.format, def });
    }
    if bad > 0 {
        return Failure::refused(format!("{} with problems; nothing pushed", table::count(bad, "file", "files")))
            .with_hint("`awe policy lint` lists them")
            .print(args.json);
    }
    let mut db = match Db::connect(&args.db) {
        Ok(db) => db,
        Err(f) => return f.print(args.json),
    };
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for r in &ready {
        match push_one(&mut db, r, args.activate) {
            Ok(v) => {
                if !args.json {
                    println!("{}", describe(&v));
                }
                results.push(v);
            }
            Err(f) => {
                eprint!("{}: ", r.name);
                f.print(false);
                failures.push(json!({"file": r.name, "code": f.code, "message": f.message, "details": f.details, "hint": f.hint}));
            }
        }
    }
    if args.json {
        println!("{}", pretty(&json!({"pushed": results, "failed": failures})));
    }
    if failures.is_empty() { exit::SUCCESS } else { exit::FOUND }
}

fn push_one(db: &mut Db, r: &Ready, activate: bool) -> Result<Value, Failure> {
    let key = r.def["key"].as_str().unwrap_or_default().to_string();
    let latest = db.json(
        "select row_to_json(v)::text from (select version, status, definition from awe.policy_versions
           where policy_key = $1 order by version desc limit 1) v",
        &[&key],
    )?;
    let (version, mut status, outcome) = if !latest.is_null() && latest["definition"] == r.def {
        (latest["version"].as_i64().unwrap_or(0), compact(&latest["status"]), "unchanged")
    } else {
        let format = match r.format {
            Format::Json => "json",
            Format::Yaml => "yaml",
        };
        let stored = db.json("select awe.import_policy($1, $2)::text", &[&r.text, &format])?;
        let outcome = if latest.is_null() { "created" } else { "new_version" };
        (stored["version"].as_i64().unwrap_or(0), compact(&stored["status"]), outcome)
    };
    let mut activated = false;
    if activate && status != "active" {
        if status != "draft" {
            return Err(Failure::refused(format!(
                "{key} version {version} is {status}: only a draft can be activated; change the file to push a new version"
            )));
        }
        db.json("select awe.activate_policy($1, $2)::text", &[&key, &(version as i32)])?;
        status = "active".into();
        activated = true;
    }
    Ok(json!({"file": r.name, "policy_key": key, "version": version, "status": status, "outcome": outcome, "activated": activated}))
}

fn describe(v: &Value) -> String {
    let (file, key, version, status) = (compact(&v["file"]), compact(&v["policy_key"]), &v["version"], compact(&v["status"]));
    let what = match v["outcome"].as_str() {
        Some("created") => format!("created {key} version {version}"),
        Some("new_version") => format!("stored {key} version {version}"),
        _ => format!("unchanged: {key} version {version}"),
    };
    let then = if v["activated"] == true { ", activated".to_string() } else { format!(" ({status})") };
    format!("{file}: {what}{then}")
}

pub fn ls(args: &PolicyLsArgs) -> i32 {
    let mut db = match Db::connect(&args.db) {
        Ok(db) => db,
        Err(f) => return f.print(args.json),
    };
    let key = args.key.as_deref();
    let rows = if args.versions {
        db.rows(
            "select policy_key, version, status, artifact_type, title, created_by, created_at, activated_at, archived_at
               from awe.policy_versions where $1::text is null or policy_key = $1 order by policy_key, version",
            &[&key],
        )
    } else {
        db.rows(
            "select policy_key, artifact_type,
                    max(version) filter (where status = 'active') as active_version,
                    max(version) as latest_version,
                    (array_agg(status order by version desc))[1] as latest_status,
                    (array_agg(title order by version desc))[1] as title,
                    max(greatest(created_at, updated_at, activated_at, archived_at)) as changed_at
               from awe.policy_versions where $1::text is null or policy_key = $1
              group by policy_key, artifact_type order by policy_key",
            &[&key],
        )
    };
    let rows = match rows {
        Ok(r) => r,
        Err(f) => return f.print(args.json),
    };
    if args.json {
        println!("{}", pretty(&Value::Array(rows)));
        return exit::SUCCESS;
    }
    if rows.is_empty() {
        println!("no policies{}", key.map(|k| format!(" with key {k}")).unwrap_or_default());
        return exit::SUCCESS;
    }
    let t = if args.versions {
        let mut t = table::new(&["policy", "version", "status", "artifact type", "title", "created by", "created", "activated"]);
        for r in &rows {
            t.add_row(vec![
                compact(&r["policy_key"]), compact(&r["version"]), compact(&r["status"]), compact(&r["artifact_type"]),
                compact(&r["title"]), compact(&r["created_by"]), time(&r["created_at"]), time(&r["activated_at"]),
            ]);
        }
        t
    } else {
        let mut t = table::new(&["policy", "active", "latest", "latest status", "artifact type", "title", "changed"]);
        for r in &rows {
            let active = if r["active_version"].is_null() { "none".to_string() } else { compact(&r["active_version"]) };
            t.add_row(vec![
                compact(&r["policy_key"]), active, compact(&r["latest_version"]), compact(&r["latest_status"]),
                compact(&r["artifact_type"]), compact(&r["title"]), time(&r["changed_at"]),
            ]);
        }
        t
    };
    println!("{t}");
    exit::SUCCESS
}
