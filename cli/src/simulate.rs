//! `awe simulate`: an offline dry run. The policy comes from a file and is
//! validated like `lint` does; awe_core::simulate::simulate does the work
//! against a directory file (or nobody), exactly as `awe.simulate` does in
//! the database; this module only reads inputs and renders the result: the
//! table the demo shows (step, stage, outcome, approvers, excluded).

use crate::args::{OutputFormat, SimulateArgs};
use crate::directory::DirectoryFile;
use crate::exit;
use crate::files::{self, Text};
use crate::lint::{human_line, lint_text};
use awe_core::context_schema;
use awe_core::document::{read_document, Format};
use awe_core::logic::{LogicCache, DEFAULT_MAX_DEPTH};
use awe_core::policy::{parse_policy, Policy, PolicyLimits, RuleKind, RuleSource};
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

pub fn run(args: &SimulateArgs) -> i32 {
    let (text, def, format) = match read_file(&args.file) {
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
    match args.output() {
        OutputFormat::Json => {
            let mut out = serde_json::to_value(&sim).expect("JSON of plain data");
            out["policy_key"] = json!(policy.key);
            out["context_problems"] = Value::Array(context_problems.clone());
            out["notes"] = json!(notes);
            println!("{}", serde_json::to_string_pretty(&out).expect("JSON of plain data"));
        }
        OutputFormat::Human => {
            println!("policy {}{}", policy.key, args.requester.as_deref().map(|r| format!(", requester {r}")).unwrap_or_default());
            println!("{}", table(&sim));
            println!("prediction: {}", sim.prediction);
            for p in &context_problems {
                println!("context problem: {}: {}", p["path"].as_str().unwrap_or(""), p["message"].as_str().unwrap_or(""));
            }
            for n in &notes {
                println!("note: {n}");
            }
        }
    }
    if context_problems.is_empty() { exit::SUCCESS } else { exit::FOUND }
}

/// The demo's table: one row per stage, 1-based steps as people count them.
fn table(sim: &Simulation) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED);
    t.set_header(vec!["step", "stage", "outcome", "approvers", "excluded"]);
    for s in &sim.stages {
        let outcome = match &s.reason {
            Some(r) => format!("{}: {r}", s.outcome),
            None => s.outcome.to_string(),
        };
        let approvers: Vec<String> = s
            .approvers
            .iter()
            .map(|a| {
                let mut tags = Vec::new();
                if let Some(from) = &a.delegated_from {
                    tags.push(format!("for {from}"));
                }
                if a.required {
                    tags.push("required".into());
                }
                if a.kind == RuleKind::Observer {
                    tags.push("observer".into());
                }
                if tags.is_empty() { a.principal.clone() } else { format!("{} ({})", a.principal, tags.join(", ")) }
            })
            .collect();
        let excluded: Vec<String> = s.excluded.iter().map(|x| format!("{} ({})", x.principal, x.reason)).collect();
        t.add_row(vec![(s.step + 1).to_string(), s.name.clone(), outcome, approvers.join("\n"), excluded.join("\n")]);
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
