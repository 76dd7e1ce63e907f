//! `awe policy fmt`: rewrites policy files in canonical form
//! (core::policy_fmt), checks whether they are (`--check`), or prints the
//! result (`--stdout`). Comments do not survive; fmt warns when it drops some.

use crate::args::FmtArgs;
use crate::exit;
use crate::files::{self, Text};
use awe_core::document::{read_document, Format};
use awe_core::policy_fmt::format_policy;
use std::path::PathBuf;

pub fn run(args: &FmtArgs) -> i32 {
    let (inputs, mut errors) = files::collect(&args.paths);
    if args.stdout && inputs.len() + errors.len() != 1 {
        eprintln!("awe: --stdout formats exactly one file ({} given)", inputs.len() + errors.len());
        return exit::TROUBLE;
    }
    let mut would_change = 0;
    for file in &inputs {
        let name = file.display();
        let text = match files::read_text(&file.path) {
            Ok(Text::Read(text)) => text,
            Ok(Text::NotUtf8) => {
                errors.push(format!("{name}: not UTF-8 text"));
                continue;
            }
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let def = match read_document(&text, file.format) {
            Ok(def) => def,
            Err(e) => {
                let place = e.line.map(|l| format!("{name}:{l}:{}", e.column.unwrap_or(1))).unwrap_or(name.clone());
                let path = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path) };
                errors.push(format!("{place}: {path}{} (fix it before formatting; `awe policy lint` lists every problem)", e.message));
                continue;
            }
        };
        let to_yaml = file.format == Format::Json && args.to_yaml;
        let target = if to_yaml { Format::Yaml } else { file.format };
        let formatted = match format_policy(&def, target) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{name}: {e}"));
                continue;
            }
        };
        if args.stdout {
            print!("{formatted}");
            continue;
        }
        if formatted == text && !to_yaml {
            continue;
        }
        would_change += 1;
        if args.check {
            println!("{name}");
            continue;
        }
        if file.format == Format::Yaml && has_comments(&text) {
            eprintln!("awe: note: {name}: comments are not kept by fmt");
        }
        if to_yaml {
            let new_path: PathBuf = file.path.with_extension("yaml");
            if new_path.exists() {
                errors.push(format!("{}: already exists; not converting {name}", new_path.display()));
                continue;
            }
            match files::write_atomically(&new_path, &formatted).and_then(|_| {
                std::fs::remove_file(&file.path).map_err(|e| format!("{name}: {}", files::describe(&e)))
            }) {
                Ok(()) => println!("{name} → {}", new_path.display()),
                Err(e) => errors.push(e),
            }
        } else {
            match files::write_atomically(&file.path, &formatted) {
                Ok(()) => println!("formatted {name}"),
                Err(e) => errors.push(e),
            }
        }
    }
    for e in &errors {
        eprintln!("awe: {e}");
    }
    if !errors.is_empty() {
        exit::TROUBLE
    } else if args.check && would_change > 0 {
        exit::FOUND
    } else {
        exit::SUCCESS
    }
}

/// Whether YAML text has a comment: a `#` starting a line or following a
/// blank. May see one inside a quoted string; it only decides a warning.
fn has_comments(text: &str) -> bool {
    text.lines().any(|line| line.trim_start().starts_with('#') || line.contains(" #") || line.contains("\t#"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn comments() {
        assert!(super::has_comments("# header\nkey: k\n"));
        assert!(super::has_comments("key: k  # why\n"));
        assert!(!super::has_comments("key: k#1\n"));
    }
}
