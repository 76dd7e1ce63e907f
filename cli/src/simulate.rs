//! `awe simulate`: a dry run. A policy file is validated like `lint` does
//! and awe_core::simulate::simulate does the work against a directory file
//! (or nobody), exactly as `awe.simulate` does in the database. A stored
//! policy (KEY, KEY@VERSION) is simulated by awe.simulate itself; so is a
//! file with role or group rules when a database is named, loaded as a
//! draft in a transaction that is rolled back. Either way this module only
//! reads inputs and renders the result: the table the demo shows (step,
//! stage, outcome, approvers, excluded).

use crate::args::{OutputFormat, SimulateArgs};
use crate::db::{self, Db, Failure};
use crate::directory::DirectoryFile;
use crate::exit;
use crate::files::{self, Text};
use crate::lint::{human_line, lint_text};
use awe_core::context_schema;
use awe_core::document::{read_document, Format};
use awe_core::logic::{LogicCache, DEFAULT_MAX_DEPTH};
use awe_core::policy::{parse_policy, Policy, PolicyLimits, RuleSource};
use awe_core::simulate::{simulate, Simulation};
use comfy_table::{presets, Table};
use serde_json::{json, Value};
use std::path::Path;

/// Reads a document file; errors are the message to print.
fn read_file(path: &Path) -> Result<(String, Value, Format), String> {
    let name = path.display();
    let text = match files::read_text(path)? {
        Text::Read(text) => text,
        Text::NotUtf8 => return Err(format!("{name}: not UTF-8 text")),
    };
    let format = Format::from_path(path).unwrap_or(Format::Yaml);
    match read_document(&text, format) {
        Ok(v) => Ok((text, v, format)),
        Err(e) => {
            let place = e.line.map(|l| format!("{name}:{l}:{}", e.column.unwrap_or(1))).unwrap_or(name.to_string());
            let at = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path) };
            Err(format!("{place}: {at}{}", e.message))
        }
    }
}

/// `--context`: inline JSON when it starts with `{`, else a file.
fn read_context(arg: &str) -> Result<Value, String> {
    if arg.trim_start().starts_with('{') {
        return read_document(arg, Format::Json).map_err(|e| format!("--context: {e}"));
    }
    read_file(Path::new(arg)).map(|(_, v, _)| v)
}

/// What the positional argument names.
enum Target<'a> {
    File(&'a Path),
    Stored { key: String, version: Option<i32> },
}

/// A path that exists, or that looks like a file (a policy extension or a
/// directory part), is a file; anything else is KEY or KEY@VERSION.
fn target(arg: &Path) -> Result<Target<'_>, String> {
    let text = arg.to_string_lossy();
    if arg.exists() || Format::from_path(arg).is_some() || text.contains(std::path::MAIN_SEPARATOR) {
        return Ok(Target::File(arg));
    }
    match text.rsplit_once('@') {
        None => Ok(Target::Stored { key: text.to_string(), version: None }),
        Some((key, "active")) => Ok(Target::Stored { key: key.to_string(), version: None }),
        Some((key, v)) => match v.parse::<i32>() {
            Ok(n) if !key.is_empty() => Ok(Target::Stored { key: key.to_string(), version: Some(n) }),
            _ => Err(format!("{text}: not a file, and not KEY@VERSION (a version number or `active`)")),
        },
    }
}

pub fn run(args: &SimulateArgs) -> i32 {
    let file = match target(&args.file) {
        Ok(Target::File(f)) => f,
        Ok(Target::Stored { key, version }) => return run_stored(args, &key, version),
        Err(e) => return Failure::usage(e).print(args.output() == OutputFormat::Json),
    };
    let (text, def, format) = match read_file(file) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("awe: {e}");
            return if e.contains(": no such file") || e.contains(": permission denied") { exit::TROUBLE } else { exit::FOUND };
        }
    };
    let mut logic = LogicCache::default();
    let policy = match parse_policy(&def, &PolicyLimits::default(), &mut logic) {
        Ok(p) => p,
        Err(_) => {
            // The same report as `awe policy lint`, with lines.
            let name = args.file.display().to_string();
            for p in lint_text(&text, format, &mut logic) {
                eprintln!("{}", human_line(&name, &p));
            }
            eprintln!("awe: {name} is not a valid policy; nothing simulated");
            return exit::FOUND;
        }
    };
    let context = match read_context(&args.context) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("awe: {e}");
            return exit::TROUBLE;
        }
    };
    if !args.offline && args.directory.is_none() && has_directory_rules(&policy) && db::named_explicitly(&args.db) {
        let format = match format {
            Format::Json => "json",
            Format::Yaml => "yaml",
        };
        return in_database(args, |db| {
            db.exec("begin")?;
            let stored = db.json("select awe.import_policy($1, $2)::text", &[&text, &format])?;
            let version = stored["version"].as_i64().map(|v| v as i32);
            let sim = db.json("select awe.simulate($1, $2::text::jsonb, $3, $4)::text",
                &[&policy.key, &context.to_string(), &version, &args.requester]);
            db.exec("rollback")?;
            let mut sim = sim?;
            sim["version"] = Value::Null;
            sim["source"] = json!(format!("from {}, not stored", args.file.display()));
            Ok(sim)
        });
    }
    let mut directory = match &args.directory {
        None => None,
        Some(path) => match read_file(path).and_then(|(_, v, _)| DirectoryFile::from_value(v).map_err(|e| format!("{}: {e}", path.display()))) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("awe: {e}");
                return exit::TROUBLE;
            }
        },
    };
    let context_problems: Vec<Value> = policy
        .context_schema
        .as_ref()
        .map(|s| context_schema::validate(s, &context).into_iter().map(|p| json!({"path": p.path, "message": p.message})).collect())
        .unwrap_or_default();
    let mut nobody = DirectoryFile::default();
    let dir = directory.as_mut().unwrap_or(&mut nobody);
    let sim = match simulate(&policy, &context, args.requester.as_deref(), dir, &mut logic, DEFAULT_MAX_DEPTH) {
        Ok(sim) => sim,
        Err(e) => {
            // A context that breaks the schema often explains the failure.
            for p in &context_problems {
                eprintln!("context problem: {}: {}", p["path"].as_str().unwrap_or(""), p["message"].as_str().unwrap_or(""));
            }
            eprintln!("awe: {e}");
            return exit::FOUND;
        }
    };
    let notes = if args.directory.is_none() { unresolved_notes(&policy, &sim) } else { Vec::new() };
    let mut out = serde_json::to_value(&sim).expect("JSON of plain data");
    out["policy_key"] = json!(policy.key);
    out["context_problems"] = Value::Array(context_problems);
    out["notes"] = json!(notes);
    print_simulation(args, &out, None)
}

/// awe.simulate of a stored policy (the active version unless one is named).
fn run_stored(args: &SimulateArgs, key: &str, version: Option<i32>) -> i32 {
    let context = match read_context(&args.context) {
        Ok(c) => c,
        Err(e) => return Failure::usage(e).print(args.output() == OutputFormat::Json),
    };
    in_database(args, |db| {
        db.json("select awe.simulate($1, $2::text::jsonb, $3, $4)::text", &[&key, &context.to_string(), &version, &args.requester])
    })
}

/// Connects, runs `simulate`, prints its answer.
fn in_database(args: &SimulateArgs, simulate: impl FnOnce(&mut Db) -> Result<Value, Failure>) -> i32 {
    let json = args.output() == OutputFormat::Json;
    let mut db = match Db::connect(&args.db) {
        Ok(db) => db,
        Err(f) => return f.print(json),
    };
    let tenant = db.tenant.clone();
    match simulate(&mut db) {
        Ok(mut out) => {
            let source = out.get("source").and_then(Value::as_str).map(str::to_string);
            if let Some(o) = out.as_object_mut() {
                o.remove("source");
            }
            let mut place = "in the database".to_string();
            if let Some(t) = tenant {
                place.push_str(&format!(", tenant {t}"));
            }
            if let Some(s) = source {
                place.push_str(&format!(", {s}"));
            }
            print_simulation(args, &out, Some(&place))
        }
        Err(f) => f.print(json),
    }
}

/// The answer of either kind of simulation (core's Simulation as JSON,
/// with policy_key, context_problems and notes), as a table or as JSON.
fn print_simulation(args: &SimulateArgs, out: &Value, place: Option<&str>) -> i32 {
    let problems = out["context_problems"].as_array().cloned().unwrap_or_default();
    match args.output() {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(out).expect("JSON of plain data")),
        OutputFormat::Human => {
            let version = out.get("version").filter(|v| !v.is_null()).map(|v| format!(" version {v}")).unwrap_or_default();
            println!(
                "policy {}{version}{}{}",
                out["policy_key"].as_str().unwrap_or(""),
                place.map(|p| format!(" ({p})")).unwrap_or_default(),
                args.requester.as_deref().map(|r| format!(", requester {r}")).unwrap_or_default()
            );
            println!("{}", table(out));
            println!("prediction: {}", out["prediction"].as_str().unwrap_or(""));
            for p in &problems {
                println!("context problem: {}: {}", p["path"].as_str().unwrap_or(""), p["message"].as_str().unwrap_or(""));
            }
            for n in out["notes"].as_array().into_iter().flatten() {
                println!("note: {}", n.as_str().unwrap_or(""));
            }
        }
    }
    if problems.is_empty() { exit::SUCCESS } else { exit::FOUND }
}

/// Whether a rule needs a directory: role and group rules.
fn has_directory_rules(policy: &Policy) -> bool {
    let needs = |r: &awe_core::policy::Rule| matches!(r.source, RuleSource::Role { .. } | RuleSource::Group { .. });
    policy.exclude.iter().any(needs) || policy.stages.iter().any(|s| s.rules.iter().chain(&s.exclude).any(needs))
}

/// The demo's table: one row per stage, 1-based steps as people count them.
/// Reads a Simulation as JSON, so that the database's answer shows the same.
fn table(sim: &Value) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["step", "stage", "outcome", "approvers", "excluded"]);
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    for s in sim["stages"].as_array().into_iter().flatten() {
        let outcome = match s["reason"].as_str() {
            Some(r) => format!("{}: {r}", text(&s["outcome"])),
            None => text(&s["outcome"]),
        };
        let approvers: Vec<String> = s["approvers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let mut tags = Vec::new();
                if let Some(from) = a["delegated_from"].as_str() {
                    tags.push(format!("for {from}"));
                }
                if a["required"] == true {
                    tags.push("required".into());
                }
                if a["kind"] == "observer" {
                    tags.push("observer".into());
                }
                let who = text(&a["principal"]);
                if tags.is_empty() { who } else { format!("{who} ({})", tags.join(", ")) }
            })
            .collect();
        let excluded: Vec<String> =
            s["excluded"].as_array().into_iter().flatten().map(|x| format!("{} ({})", text(&x["principal"]), text(&x["reason"]))).collect();
        let step = s["step"].as_u64().map(|n| (n + 1).to_string()).unwrap_or_default();
        t.add_row(vec![step, text(&s["name"]), outcome, approvers.join("\n"), excluded.join("\n")]);
    }
    t
}

/// Without a directory, role and group rules of stages that ran resolved to
/// nobody; say which, so an empty stage is not mistaken for a policy bug.
fn unresolved_notes(policy: &Policy, sim: &Simulation) -> Vec<String> {
    let mut notes = Vec::new();
    let mut note = |scope: &str, source: &RuleSource| match source {
        RuleSource::Role { role } => notes.push(format!("{scope}: role rule ({role}) needs --directory or --db; it resolved to nobody")),
        RuleSource::Group { group, .. } => notes.push(format!("{scope}: group rule ({group}) needs --directory or --db; it resolved to nobody")),
        _ => {}
    };
    for rule in &policy.exclude {
        note("exclude", &rule.source);
    }
    for s in sim.stages.iter().filter(|s| s.outcome != "skipped") {
        let stage = &policy.stages[s.index];
        for rule in stage.rules.iter().chain(&stage.exclude) {
            note(&format!("stage \"{}\"", stage.name), &rule.source);
        }
    }
    notes.dedup();
    notes
}
