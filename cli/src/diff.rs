//! `awe policy diff A B`: reads two definitions and prints
//! core::policy_diff's structural diff. `key@version` names a policy in a
//! database; reading one needs `--db`, which comes with the database commands.

use crate::args::{DiffArgs, OutputFormat, PolicyRef};
use crate::exit;
use crate::files::{self, Text};
use awe_core::document::{read_document, Format};
use awe_core::policy_diff::diff_policies;
use serde_json::Value;

fn load(r: &PolicyRef) -> Result<Value, String> {
    match r {
        PolicyRef::Stored { key, version } => {
            Err(format!("{key}@{version}: reading a stored policy needs --db, which this version of awe does not have yet"))
        }
        PolicyRef::File(path) => {
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
    }
}

pub fn run(args: &DiffArgs) -> i32 {
    let (before, after) = match (load(&args.before), load(&args.after)) {
        (Ok(b), Ok(a)) => (b, a),
        (b, a) => {
            for e in [b.err(), a.err()].into_iter().flatten() {
                eprintln!("awe: {e}");
            }
            return exit::TROUBLE;
        }
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
