//! `awe policy diff A B`: reads two definitions and prints
//! core::policy_diff's structural diff. `key@version` names a version
//! stored in the database (awe.get_policy; `key@active` the active one).

use crate::args::{DiffArgs, OutputFormat, PolicyRef};
use crate::db::Db;
use crate::exit;
use crate::files::{self, Text};
use crate::policy_db;
use awe_core::document::{read_document, Format};
use awe_core::policy_diff::diff_policies;
use serde_json::Value;

/// Reads one side (from the database when it names a stored version).
/// Errors are printed here and become the exit code: 2, nothing compared.
fn load(r: &PolicyRef, db: Option<&mut Db>, json: bool) -> Result<Value, i32> {
    match (r, db) {
        (PolicyRef::Stored { key, version }, Some(db)) => policy_db::get(db, key, version).map_err(|f| {
            eprint!("{key}@{version}: ");
            f.print(json);
            exit::TROUBLE
        }),
        (PolicyRef::Stored { .. }, None) => Err(exit::TROUBLE),
        (PolicyRef::File(path), _) => read_file(path).map_err(|e| {
            eprintln!("awe: {e}");
            exit::TROUBLE
        }),
    }
}

fn read_file(path: &std::path::Path) -> Result<Value, String> {
    let name = path.display();
    let text = match files::read_text(path)? {
        Text::Read(text) => text,
        Text::NotUtf8 => return Err(format!("{name}: not UTF-8 text")),
    };
    let format = Format::from_path(path).unwrap_or(Format::Yaml);
    read_document(&text, format).map_err(|e| {
        let place = e.line.map(|l| format!("{name}:{l}:{}", e.column.unwrap_or(1))).unwrap_or(name.to_string());
        let at = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path) };
        format!("{place}: {at}{}", e.message)
    })
}

pub fn run(args: &DiffArgs) -> i32 {
    let json = args.output() == OutputFormat::Json;
    let stored = |r: &PolicyRef| matches!(r, PolicyRef::Stored { .. });
    let mut db = None;
    if stored(&args.before) || stored(&args.after) {
        match Db::connect(&args.db) {
            Ok(c) => db = Some(c),
            Err(f) => return f.print(json),
        }
    }
    let before = load(&args.before, db.as_mut(), json);
    let after = load(&args.after, db.as_mut(), json);
    let (before, after) = match (before, after) {
        (Ok(b), Ok(a)) => (b, a),
        (b, a) => return b.err().into_iter().chain(a.err()).max().unwrap_or(exit::TROUBLE),
    };
    let diff = diff_policies(&before, &after);
    match args.output() {
        OutputFormat::Human => print!("{}", diff.render_human()),
        OutputFormat::Json => {
            let doc = serde_json::json!({"identical": diff.is_empty(), "diff": diff});
            println!("{}", serde_json::to_string_pretty(&doc).expect("JSON of plain data"));
        }
    }
    if diff.is_empty() { exit::SUCCESS } else { exit::FOUND }
}
