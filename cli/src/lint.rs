//! `awe policy lint`: reads each file strictly (core::document), validates
//! it as the engine does when a policy is saved (core::policy::parse_policy
//! with default limits), and reports every problem with its file, JSON
//! path and line, for people, for tools (JSON) or for GitHub annotations.
//! Files are linted on one thread per core (std scoped threads: files are
//! independent, and a tree of a thousand takes a third of a second on one
//! core), and reported in path order whatever the threads did.

use crate::args::{LintArgs, LintFormat};
use crate::exit;
use crate::files::{self, PolicyFile, Text};
use awe_core::document::{read_document, Format};
use awe_core::document_locate::locate;
use awe_core::logic::LogicCache;
use awe_core::policy::{parse_policy, PolicyLimits};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One problem in one file. `line`/`column` count from 1 and are absent
/// only when the text could not be parsed far enough to find the path.
#[derive(Debug, Clone, Serialize)]
pub struct LintProblem {
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct FileReport {
    pub file: String,
    pub problems: Vec<LintProblem>,
}

/// Every problem of one document's text.
pub fn lint_text(text: &str, format: Format, logic: &mut LogicCache) -> Vec<LintProblem> {
    let def = match read_document(text, format) {
        Ok(def) => def,
        Err(e) => return vec![LintProblem { path: e.path, line: e.line, column: e.column, code: e.code.to_string(), message: e.message }],
    };
    let problems = parse_policy(&def, &PolicyLimits::default(), logic).err().unwrap_or_default();
    let mut out: Vec<LintProblem> = problems
        .into_iter()
        .map(|p| {
            // The line of the key the path names, or of its nearest
            // ancestor when the key is missing ("is required").
            let at = locate(text, format, &p.path);
            LintProblem { line: at.map(|l| l.line), column: at.map(|l| l.column), path: p.path, code: p.code.to_string(), message: p.message }
        })
        .collect();
    // In reading order; the validator's own order is by concern.
    out.sort_by_key(|p| (p.line.unwrap_or(0), p.column.unwrap_or(0)));
    out
}

fn lint_file(file: &PolicyFile, logic: &mut LogicCache) -> Result<FileReport, String> {
    let problems = match files::read_text(&file.path)? {
        Text::Read(text) => lint_text(&text, file.format, logic),
        Text::NotUtf8 => vec![LintProblem {
            path: String::new(),
            line: None,
            column: None,
            code: "encoding".into(),
            message: "not UTF-8 text".into(),
        }],
    };
    Ok(FileReport { file: file.display(), problems })
}

pub fn run(args: &LintArgs) -> i32 {
    let (inputs, mut errors) = files::collect(&args.paths);
    let progress = progress_bar(inputs.len());
    let mut reports = Vec::with_capacity(inputs.len());
    for result in lint_all(&inputs, &progress) {
        match result {
            Ok(report) => reports.push(report),
            Err(e) => errors.push(e),
        }
    }
    progress.finish_and_clear();

    let problems: usize = reports.iter().map(|r| r.problems.len()).sum();
    let bad_files = reports.iter().filter(|r| !r.problems.is_empty()).count();
    let summary = summary_line(reports.len(), problems, bad_files);
    match args.output() {
        LintFormat::Human => {
            for r in &reports {
                for p in &r.problems {
                    println!("{}", human_line(&r.file, p));
                }
            }
            println!("{summary}");
        }
        LintFormat::Github => {
            for r in &reports {
                for p in &r.problems {
                    println!("{}", github_line(&r.file, p));
                }
            }
            println!("{summary}");
        }
        LintFormat::Json => {
            let doc = serde_json::json!({
                "files": reports,
                "errors": errors,
                "summary": {"files": reports.len(), "problems": problems, "files_with_problems": bad_files},
            });
            println!("{}", serde_json::to_string_pretty(&doc).expect("JSON of plain data"));
        }
    }
    for e in &errors {
        eprintln!("awe: {e}");
    }
    if !errors.is_empty() {
        exit::TROUBLE
    } else if problems > 0 {
        exit::FOUND
    } else {
        exit::SUCCESS
    }
}

/// Lints every file, on as many threads as there are cores (each with its
/// own JSONLogic cache; files are independent), and returns the reports in
/// the order of `inputs`, so the output does not depend on the threads.
fn lint_all(inputs: &[PolicyFile], progress: &ProgressBar) -> Vec<Result<FileReport, String>> {
    // A thread per core, but not for a handful of files (a thread costs ~50 µs).
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads = cores.min(inputs.len() / 16 + 1);
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<FileReport, String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut logic = LogicCache::default();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = inputs.get(i) else { break };
                        done.push((i, lint_file(file, &mut logic)));
                        progress.inc(1);
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a lint thread panicked")).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// A bar on a terminal when there are enough files to wait for; nothing otherwise.
fn progress_bar(total: usize) -> ProgressBar {
    if total < 200 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed}") {
        bar.set_style(style);
    }
    bar
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// `3 files, 2 problems in 1 file`, or `3 files, no problems`.
pub fn summary_line(files: usize, problems: usize, bad_files: usize) -> String {
    if problems == 0 {
        format!("{}, no problems", plural(files, "file"))
    } else {
        format!("{}, {} in {}", plural(files, "file"), plural(problems, "problem"), plural(bad_files, "file"))
    }
}

/// `file:line:column: path: message [code]`, the form editors jump to.
pub fn human_line(file: &str, p: &LintProblem) -> String {
    let place = match (p.line, p.column) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        (Some(l), None) => format!("{file}:{l}"),
        _ => file.to_string(),
    };
    if p.path.is_empty() {
        format!("{place}: {} [{}]", p.message, p.code)
    } else {
        format!("{place}: {}: {} [{}]", p.path, p.message, p.code)
    }
}

/// `::error file=F,line=L,title=awe policy lint::path: message`. GitHub
/// needs a line to annotate, so a problem without one goes on line 1.
pub fn github_line(file: &str, p: &LintProblem) -> String {
    let message = if p.path.is_empty() { p.message.clone() } else { format!("{}: {}", p.path, p.message) };
    format!(
        "::error file={},line={},title=awe policy lint::{}",
        escape_property(file),
        p.line.unwrap_or(1),
        escape_data(&message)
    )
}

/// Workflow-command escaping of a message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Workflow-command escaping of a property value (`file=`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries() {
        assert_eq!(summary_line(3, 2, 1), "3 files, 2 problems in 1 file");
        assert_eq!(summary_line(1, 0, 0), "1 file, no problems");
        assert_eq!(summary_line(2, 1, 1), "2 files, 1 problem in 1 file");
    }

    #[test]
    fn github_commands_are_escaped() {
        let p = LintProblem { path: "stages[0].sla".into(), line: None, column: None, code: "duration".into(), message: "50% off\nnext".into() };
        assert_eq!(github_line("a,b:c.yaml", &p), "::error file=a%2Cb%3Ac.yaml,line=1,title=awe policy lint::stages[0].sla: 50%25 off%0Anext");
    }

    #[test]
    fn problems_get_lines() {
        let text = "key: k\nartifact_type: d\nstages:\n  - name: s\n    mode: sometimes\n    rules: [{type: user, user: a}]\n";
        let problems = lint_text(text, Format::Yaml, &mut LogicCache::default());
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].path.as_str(), problems[0].line, problems[0].column), ("stages[0].mode", Some(5), Some(5)));
    }
}
