//! Summary templates: a policy's `summary` is a logic-less template over the
//! request, such as `{{requester}} asks {{amount}} {{currency}} for
//! {{purpose}}`, rendered when a request is submitted or resubmitted.
//!
//! The template is parsed by minijinja (its lexer and parser, so the syntax
//! and its error messages are Jinja's), and the syntax tree is then held to
//! one construct: output of a variable path, `{{ name }}` or `{{ a.b.0.c }}`.
//! Statements, comments, filters, tests, calls, operators and literals are
//! refused when the policy is saved ([`check_template`]), and so are paths
//! that the policy's `context_schema` says the context cannot have.
//!
//! Rendering does not run minijinja's engine: a compiled template is a list
//! of text pieces and paths, and each path is looked up directly in the
//! request's JSON context. That keeps numbers exactly as the caller sent
//! them (awe's serde_json keeps every digit), needs no conversion of the
//! context, and makes a render of a cached template cost well under a
//! microsecond for a typical summary. Whatever is missing renders as
//! nothing; rendering never fails.

use crate::problem::Problem;
use minijinja::machinery::{ast, parse, Span};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::ValueKind;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

/// The longest rendered summary, in characters (a cut one ends with `…`).
pub const MAX_SUMMARY_CHARS: usize = 1000;
/// The longest template accepted, in characters.
pub const MAX_TEMPLATE_CHARS: usize = 2000;
/// The problem path of everything [`check_template`] reports.
pub const PATH: &str = "summary";
/// The names that mean the request's own fields rather than context keys.
pub const REQUEST_FIELDS: [&str; 6] =
    ["requester", "artifact_type", "artifact_id", "policy_key", "policy_version", "revision"];
/// The name that means the whole context (`context.requester` is the
/// context key `requester`, which the request field of that name hides).
pub const CONTEXT: &str = "context";

/// Compiled templates kept per thread; a stream of distinct templates
/// cannot grow memory past this (the cache is emptied when full).
const CACHE_CAPACITY: usize = 256;
const CODE: &str = "template";

/// The request fields a template can show besides the context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFields {
    pub requester: Option<String>,
    pub artifact_type: String,
    pub artifact_id: String,
    pub policy_key: String,
    pub policy_version: i32,
    pub revision: i32,
}

/// One step of a variable path: `.name` or `.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(Box<str>),
    Index(usize),
}

impl Step {
    fn text(&self) -> String {
        match self {
            Step::Key(k) => k.to_string(),
            Step::Index(i) => i.to_string(),
        }
    }
}

/// What a path names: a request field, or something in the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    /// A request field, by its index in [`REQUEST_FIELDS`].
    Request(usize),
    /// `context…`: the steps after `context` go into the context.
    Context,
    /// Any other name: a context key, the first step.
    Key,
}

fn root_of(steps: &[Step]) -> Root {
    match steps.first() {
        Some(Step::Key(k)) if &**k == CONTEXT => Root::Context,
        Some(Step::Key(k)) => REQUEST_FIELDS.iter().position(|f| *f == &**k).map_or(Root::Key, Root::Request),
        _ => Root::Key,
    }
}

#[derive(Debug, Clone)]
enum Piece {
    Text(Box<str>),
    /// A request field, by its index in [`REQUEST_FIELDS`].
    Request(usize),
    /// A path into the context.
    Context(Box<[Step]>),
    /// A path that can have no value (a step into a request field).
    Nothing,
}

/// A template that passed the syntax checks, ready to render any number of
/// times. [`render`] keeps these in a per-thread cache.
#[derive(Debug, Clone)]
pub struct SummaryTemplate {
    pieces: Vec<Piece>,
    /// Every variable path with where it is, for the schema check.
    vars: Vec<(Vec<Step>, Position)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    line: usize,
    column: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at line {}, column {}", self.line, self.column)
    }
}

/// Line and column (both from 1, the column in characters) of a byte offset.
fn position(source: &str, offset: usize) -> Position {
    let offset = floor_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position { line, column: before[line_start..].chars().count() + 1 }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn problem(message: String) -> Problem {
    Problem { path: PATH.to_string(), code: CODE, message }
}

const HOW: &str = "a summary shows values only, as {{ name }} or {{ a.b.c }}";

impl SummaryTemplate {
    /// Parses a template and checks that it only outputs variable paths.
    /// `Err` lists every problem, each with its line and column.
    pub fn compile(template: &str) -> Result<SummaryTemplate, Vec<Problem>> {
        let chars = template.chars().count();
        if chars > MAX_TEMPLATE_CHARS {
            return Err(vec![Problem {
                path: PATH.to_string(),
                code: "limit",
                message: format!("the template is {chars} characters long; the limit is {MAX_TEMPLATE_CHARS}"),
            }]);
        }
        let tree = match parse(template, PATH, SyntaxConfig::default()) {
            Ok(tree) => tree,
            Err(e) => {
                let at = e.range().map(|r| position(template, r.start));
                let mut message = match e.detail() {
                    Some(detail) => format!("{}: {detail}", e.kind()),
                    None => e.kind().to_string(),
                };
                match (at, e.line()) {
                    (Some(at), _) => write!(message, " {at}").unwrap(),
                    (None, Some(line)) => write!(message, " at line {line}").unwrap(),
                    (None, None) => {}
                }
                return Err(vec![problem(message)]);
            }
        };
        let ast::Stmt::Template(tree) = tree else {
            return Err(vec![problem("the template could not be read".into())]);
        };
        let mut problems = Vec::new();
        let mut pieces = Vec::new();
        let mut vars = Vec::new();
        // Byte ranges of the source that are text or a variable's expression;
        // a `{%` or `{#` anywhere else opened a statement or a comment (the
        // lexer drops comments and `{% raw %}` from the tree, so the source
        // itself is where they show).
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for child in &tree.children {
            match child {
                ast::Stmt::EmitRaw(raw) => {
                    let span = raw.span();
                    covered.push((span.start_offset as usize, span.end_offset as usize));
                    pieces.push(Piece::Text(raw.raw.into()));
                }
                ast::Stmt::EmitExpr(emit) => {
                    // The statement's span is the whole expression (a path's
                    // own node starts at its last step).
                    let span = emit.span();
                    covered.push((span.start_offset as usize, span.end_offset as usize));
                    let at = position(template, span.start_offset as usize);
                    match path_of(&emit.expr, template) {
                        Ok(steps) => {
                            pieces.push(match root_of(&steps) {
                                Root::Request(field) if steps.len() == 1 => Piece::Request(field),
                                Root::Request(_) => Piece::Nothing,
                                Root::Context => Piece::Context(steps[1..].into()),
                                Root::Key => Piece::Context(steps.clone().into()),
                            });
                            vars.push((steps, at));
                        }
                        Err(what) => problems.push((
                            span.start_offset as usize,
                            problem(format!("{{{{ {} }}}} {at}: {what} are not allowed; {HOW}", snippet(template, span))),
                        )),
                    }
                }
                _ => {} // statements: found by their `{%` below
            }
        }
        let bytes = template.as_bytes();
        let mut i = 0;
        while i + 1 < bytes.len() {
            let inside = covered.iter().any(|&(s, e)| i >= s && i < e);
            if bytes[i] == b'{' && !inside {
                let what = match bytes[i + 1] {
                    b'%' => Some("statements ({% … %})"),
                    b'#' => Some("comments ({# … #})"),
                    _ => None,
                };
                if let Some(what) = what {
                    let at = position(template, i);
                    problems.push((i, problem(format!("{what} are not allowed ({at}); {HOW}"))));
                }
            }
            i += 1;
        }
        if problems.is_empty() {
            Ok(SummaryTemplate { pieces, vars })
        } else {
            problems.sort_by_key(|(offset, _)| *offset);
            Err(problems.into_iter().map(|(_, p)| p).collect())
        }
    }

    /// The template's variable paths, dotted (`requester`, `merchant.name`,
    /// `items.0.sku`, `context.revision`), in order of appearance.
    pub fn variables(&self) -> Vec<String> {
        self.vars.iter().map(|(steps, _)| dotted(steps)).collect()
    }

    /// Renders against a request: missing values are empty, numbers are
    /// their JSON text, arrays and objects compact JSON; the result has no
    /// control characters but newlines and at most [`MAX_SUMMARY_CHARS`].
    pub fn render(&self, context: &Value, request: &RequestFields) -> String {
        let mut out = Capped::default();
        for piece in &self.pieces {
            if out.full {
                break;
            }
            match piece {
                Piece::Text(text) => out.push(text),
                Piece::Request(field) => push_request_field(&mut out, request, *field),
                Piece::Context(steps) => {
                    if let Some(v) = lookup(context, steps) {
                        push_value(&mut out, v);
                    }
                }
                Piece::Nothing => {}
            }
        }
        out.finish()
    }

    /// Problems with the template's paths given the policy's context schema.
    fn check_variables(&self, context_schema: Option<&Value>) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (steps, at) in &self.vars {
            let written = dotted(steps);
            let path = match root_of(steps) {
                Root::Request(field) if steps.len() > 1 => {
                    let name = REQUEST_FIELDS[field];
                    let what = if field >= 4 { "a number" } else { "text" };
                    problems.push(problem(format!(
                        "unknown variable \"{written}\" {at}: {name} is the request's {name} ({what}) and has no fields; \
                         a context key of that name is context.{written}"
                    )));
                    continue;
                }
                Root::Request(_) => continue,
                Root::Context => &steps[1..],
                Root::Key => &steps[..],
            };
            if let Some(why) = context_schema.and_then(|schema| schema_rejects(schema, path)) {
                problems.push(problem(format!("unknown variable \"{written}\" {at}: {why}")));
            }
        }
        problems
    }
}

/// `a.b.0`.
fn dotted(steps: &[Step]) -> String {
    steps.iter().map(Step::text).collect::<Vec<_>>().join(".")
}

fn snippet(source: &str, span: Span) -> String {
    let (s, e) = (span.start_offset as usize, span.end_offset as usize);
    let text = source.get(s..e.min(source.len())).unwrap_or("");
    let mut out: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// The steps of a variable path, or what kind of construct it is instead.
fn path_of(expr: &ast::Expr<'_>, source: &str) -> Result<Vec<Step>, String> {
    match expr {
        ast::Expr::Var(v) => Ok(vec![Step::Key(v.id.into())]),
        ast::Expr::GetAttr(g) => {
            let mut steps = path_of(&g.expr, source)?;
            steps.push(Step::Key(g.name.into()));
            Ok(steps)
        }
        ast::Expr::GetItem(g) => {
            let mut steps = path_of(&g.expr, source)?;
            let sub = &g.subscript_expr;
            let start = sub.span().start_offset as usize;
            let dotted = start > 0 && source.as_bytes().get(start - 1) == Some(&b'.');
            match sub {
                ast::Expr::Const(c) if dotted && c.value.kind() == ValueKind::Number => match c.value.as_usize() {
                    Some(i) if i <= u32::MAX as usize => {
                        steps.push(Step::Index(i));
                        Ok(steps)
                    }
                    _ => Err("indexes this large".into()),
                },
                ast::Expr::Const(c) if c.value.kind() == ValueKind::Number => {
                    Err(format!("brackets (write .{} rather than [{}])", c.value, c.value))
                }
                ast::Expr::Const(c) if c.value.kind() == ValueKind::String => Err(format!(
                    "brackets (write .{} rather than [\"{}\"], for a name of letters, digits and _)",
                    c.value, c.value
                )),
                _ => Err("brackets".into()),
            }
        }
        ast::Expr::Const(_) => Err("literals".into()),
        ast::Expr::List(_) | ast::Expr::Tuple(_) | ast::Expr::Map(_) => Err("literals".into()),
        ast::Expr::Filter(f) => Err(format!("filters (|{})", f.name)),
        ast::Expr::Test(t) => Err(format!("tests (is {})", t.name)),
        ast::Expr::Call(_) => Err("calls".into()),
        ast::Expr::Slice(_) => Err("slices".into()),
        ast::Expr::IfExpr(_) => Err("conditional expressions (… if … else …)".into()),
        ast::Expr::UnaryOp(_) | ast::Expr::BinOp(_) | ast::Expr::Compare(_) => Err("operators".into()),
    }
}

/// Follows a path in a JSON value: `.name` in objects, `.0` in arrays (and,
/// in an object, the key `"0"`).
fn lookup<'v>(mut v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    for step in steps {
        v = match (v, step) {
            (Value::Object(map), Step::Key(k)) => map.get(&**k)?,
            (Value::Object(map), Step::Index(i)) => map.get(&i.to_string())?,
            (Value::Array(items), Step::Index(i)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

fn push_request_field(out: &mut Capped, r: &RequestFields, field: usize) {
    match field {
        0 => out.push(r.requester.as_deref().unwrap_or("")),
        1 => out.push(&r.artifact_type),
        2 => out.push(&r.artifact_id),
        3 => out.push(&r.policy_key),
        4 => out.push(&r.policy_version.to_string()),
        _ => out.push(&r.revision.to_string()),
    }
}

fn push_value(out: &mut Capped, v: &Value) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push(if *b { "true" } else { "false" }),
        // With arbitrary_precision a Number displays as the text it was read from.
        Value::Number(n) => out.push(&n.to_string()),
        Value::String(s) => out.push(s),
        Value::Array(_) | Value::Object(_) => {
            // Compact JSON, serialized only as far as the cap can show.
            let mut w = Bounded { buf: Vec::new(), limit: (out.room() + 1) * 4 };
            let _ = serde_json::to_writer(&mut w, v);
            out.push(&String::from_utf8_lossy(&w.buf));
        }
    }
}

/// A writer that refuses writes past `limit` bytes, so serializing a huge
/// value stops early instead of building all of it.
struct Bounded {
    buf: Vec<u8>,
    limit: usize,
}

impl std::io::Write for Bounded {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            // Keep whole characters only; the cut is visible as `…` anyway.
            let room = self.limit.saturating_sub(self.buf.len());
            let mut take = room.min(data.len());
            while take > 0 && std::str::from_utf8(&data[..take]).is_err() {
                take -= 1;
            }
            self.buf.extend_from_slice(&data[..take]);
            return Err(std::io::Error::other("summary cap reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The rendered text, control characters but newlines dropped, cut at
/// [`MAX_SUMMARY_CHARS`] with `…`.
#[derive(Default)]
struct Capped {
    buf: String,
    chars: usize,
    /// More than the cap was offered.
    full: bool,
}

impl Capped {
    fn room(&self) -> usize {
        MAX_SUMMARY_CHARS.saturating_sub(self.chars)
    }

    fn push(&mut self, s: &str) {
        for c in s.chars() {
            if c.is_control() && c != '\n' {
                continue;
            }
            if self.chars == MAX_SUMMARY_CHARS {
                self.full = true;
                return;
            }
            self.buf.push(c);
            self.chars += 1;
        }
    }

    fn finish(mut self) -> String {
        if self.full {
            self.buf.pop();
            self.buf.push('…');
        }
        self.buf
    }
}

/// Why a context schema says a path cannot exist in the context, or `None`
/// when the schema allows it or cannot tell (no `additionalProperties:
/// false`, no `type` that rules it out).
pub(crate) fn schema_rejects(schema: &Value, path: &[Step]) -> Option<String> {
    let mut node = schema;
    for (depth, step) in path.iter().enumerate() {
        let here = if depth == 0 { "the context".to_string() } else { dotted(&path[..depth]) };
        let map = match node {
            Value::Object(map) => map,
            Value::Bool(false) => return Some(format!("context_schema does not allow {here} at all")),
            _ => return None,
        };
        let types: Vec<&str> = match map.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let typed = !types.is_empty();
        let object = types.contains(&"object");
        let array = types.contains(&"array");
        if typed && !object && !array {
            return Some(format!(
                "context_schema says {here} is {}, which has no field \"{}\"",
                describe(&types),
                step.text()
            ));
        }
        let key: String = match step {
            Step::Index(_) if array && !object => match map.get("items") {
                Some(items) => {
                    node = items;
                    continue;
                }
                None => return None,
            },
            // No type: an array or an object, the schema cannot tell.
            Step::Index(_) if !object => return None,
            Step::Index(i) => i.to_string(),
            Step::Key(k) if typed && !object => {
                return Some(format!(
                    "context_schema says {here} is an array, which has no field \"{k}\" (its first item is {here}.0)"
                ));
            }
            Step::Key(k) => k.to_string(),
        };
        let props = map.get("properties").and_then(Value::as_object);
        if let Some(sub) = props.and_then(|p| p.get(&key)) {
            node = sub;
            continue;
        }
        match map.get("additionalProperties") {
            Some(Value::Bool(false)) => {
                let names: Vec<&str> = props.map(|p| p.keys().map(String::as_str).collect()).unwrap_or_default();
                let prefix = if depth == 0 { String::new() } else { format!("{here}.") };
                let allowed = if names.is_empty() {
                    format!("context_schema allows no keys in {here}")
                } else {
                    let listed: Vec<String> = names.iter().map(|n| format!("{prefix}{n}")).collect();
                    format!("context_schema allows only {} (additionalProperties is false)", listed.join(", "))
                };
                let hint = closest(&key, &names).map(|n| format!("; did you mean \"{prefix}{n}\"?")).unwrap_or_default();
                return Some(format!("{allowed}{hint}"));
            }
            Some(extra @ Value::Object(_)) => node = extra,
            _ => return None,
        }
    }
    None
}

fn describe(types: &[&str]) -> String {
    let words: Vec<&str> = types
        .iter()
        .map(|t| match *t {
            "string" => "a string",
            "number" => "a number",
            "integer" => "an integer",
            "boolean" => "a boolean",
            "null" => "null",
            other => other,
        })
        .collect();
    words.join(" or ")
}

/// The one name within two edits of `word`, if exactly one is closest.
fn closest<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for name in names {
        let d = edit_distance(word, name);
        if d > 2 || d >= word.chars().count().max(1) {
            continue;
        }
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, _)) if d == bd => tie = true,
            _ => {
                best = Some((d, name));
                tie = false;
            }
        }
    }
    if tie { None } else { best.map(|(_, n)| n) }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Every problem with a policy's `summary` template, path `summary`: syntax
/// errors (minijinja's message), constructs other than a variable path, and
/// paths the `context_schema` says the context cannot have. Without a schema
/// any context path is allowed.
pub fn check_template(template: &str, context_schema: Option<&Value>) -> Vec<Problem> {
    match SummaryTemplate::compile(template) {
        Ok(t) => t.check_variables(context_schema),
        Err(problems) => problems,
    }
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Rc<Option<SummaryTemplate>>>> = RefCell::new(HashMap::new());
}

/// Renders a template against a request, compiling it once per thread (a
/// bounded cache keyed by the template text). Never fails: a template that
/// does not compile renders as an empty string.
pub fn render(template: &str, context: &Value, request: &RequestFields) -> String {
    let compiled = CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(hit) = cache.get(template) {
            return hit.clone();
        }
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        let compiled = Rc::new(SummaryTemplate::compile(template).ok());
        cache.insert(template.to_string(), compiled.clone());
        compiled
    });
    match &*compiled {
        Some(t) => t.render(context, request),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(template: &str, schema: Option<Value>) -> Vec<String> {
        let problems = check_template(template, schema.as_ref());
        for p in &problems {
            assert_eq!(p.path, "summary");
        }
        problems.into_iter().map(|p| p.message).collect()
    }

    fn refused(template: &str) -> String {
        let m = messages(template, None);
        assert_eq!(m.len(), 1, "{template}: {m:?}");
        m.into_iter().next().unwrap()
    }

    fn request() -> RequestFields {
        RequestFields {
            requester: Some("sam".into()),
            artifact_type: "expense_report".into(),
            artifact_id: "EXP-42".into(),
            policy_key: "expense.report".into(),
            policy_version: 3,
            revision: 2,
        }
    }

    fn show(template: &str, context: Value) -> String {
        assert_eq!(messages(template, None), Vec::<String>::new(), "{template}");
        let direct = SummaryTemplate::compile(template).unwrap().render(&context, &request());
        let cached = render(template, &context, &request());
        assert_eq!(direct, cached);
        cached
    }

    #[test]
    fn plain_paths_are_accepted() {
        for t in [
            "",
            "no variables at all",
            "{{requester}} asks {{amount}} {{currency}} for {{purpose}}",
            "{{ a.b.c }}",
            "{{ items.0.name }}",
            "{{- a -}}",
            "{{ context.requester }} {{ context }}",
            "line one\n{{ x }}\nline three",
        ] {
            assert_eq!(messages(t, None), Vec::<String>::new(), "{t}");
        }
        let t = SummaryTemplate::compile("{{ requester }}: {{ merchant.name }} {{ items.0.sku }} {{ context.revision }}").unwrap();
        assert_eq!(t.variables(), ["requester", "merchant.name", "items.0.sku", "context.revision"]);
    }

    #[test]
    fn statements_and_comments_are_refused() {
        assert_eq!(
            messages("a {% if x %}b{% endif %}", None)[0],
            "statements ({% … %}) are not allowed (at line 1, column 3); a summary shows values only, as {{ name }} or {{ a.b.c }}"
        );
        // One problem per tag.
        assert_eq!(messages("{% if x %}b{% endif %}", None).len(), 2);
        let raw = messages("{% raw %}{{ x }}{% endraw %}", None);
        assert_eq!(raw.len(), 2);
        assert!(raw[0].starts_with("statements ({% … %}) are not allowed (at line 1, column 1)"), "{raw:?}");
        assert!(refused("x\n  {# a note #} y").starts_with("comments ({# … #}) are not allowed (at line 2, column 3)"));
        assert!(refused("{% set a = 1 %}").starts_with("statements"));
    }

    #[test]
    fn every_expression_but_a_path_is_refused() {
        let cases = [
            ("{{ amount|round }}", "{{ amount|round }} at line 1, column 4: filters (|round) are not allowed"),
            ("{{ a is defined }}", "{{ a is defined }} at line 1, column 4: tests (is defined) are not allowed"),
            ("{{ now() }}", "{{ now() }} at line 1, column 4: calls are not allowed"),
            ("{{ a.b() }}", "{{ a.b() }} at line 1, column 4: calls are not allowed"),
            ("{{ a + b }}", "{{ a + b }} at line 1, column 4: operators are not allowed"),
            ("{{ a ~ b }}", "{{ a ~ b }} at line 1, column 4: operators are not allowed"),
            ("{{ not a }}", "{{ not a }} at line 1, column 4: operators are not allowed"),
            ("{{ -a }}", "{{ -a }} at line 1, column 4: operators are not allowed"),
            ("{{ a == 1 }}", "{{ a == 1 }} at line 1, column 4: operators are not allowed"),
            ("{{ a if b else c }}", "{{ a if b else c }} at line 1, column 4: conditional expressions (… if … else …) are not allowed"),
            ("{{ 'text' }}", "{{ 'text' }} at line 1, column 4: literals are not allowed"),
            ("{{ 12 }}", "{{ 12 }} at line 1, column 4: literals are not allowed"),
            ("{{ true }}", "{{ true }} at line 1, column 4: literals are not allowed"),
            ("{{ none }}", "{{ none }} at line 1, column 4: literals are not allowed"),
            ("{{ [1, 2] }}", "{{ [1, 2] }} at line 1, column 4: literals are not allowed"),
            ("{{ {'a': 1} }}", "{{ {'a': 1} }} at line 1, column 4: literals are not allowed"),
            ("{{ (a, b) }}", "{{ (a, b) }} at line 1, column 4: literals are not allowed"),
            ("{{ a[0] }}", "{{ a[0] }} at line 1, column 4: brackets (write .0 rather than [0]) are not allowed"),
            ("{{ a[\"b\"] }}", "{{ a[\"b\"] }} at line 1, column 4: brackets (write .b rather than [\"b\"], for a name of letters, digits and _) are not allowed"),
            ("{{ a[i] }}", "{{ a[i] }} at line 1, column 4: brackets are not allowed"),
            ("{{ a[1:2] }}", "{{ a[1:2] }} at line 1, column 4: slices are not allowed"),
            ("{{ (a|upper).b }}", "{{ (a|upper).b }} at line 1, column 4: filters (|upper) are not allowed"),
        ];
        for (template, start) in cases {
            let m = refused(template);
            assert!(m.starts_with(start), "{template}: {m}");
            assert!(m.ends_with("; a summary shows values only, as {{ name }} or {{ a.b.c }}"), "{m}");
        }
        // Every refused tag is reported, in the order of the text.
        let m = messages("{# note #}{{ a|upper }} and {{ b + 1 }}\n{% if c %}{% endif %}", None);
        assert_eq!(m.len(), 5, "{m:?}");
        assert!(m[0].starts_with("comments") && m[1].starts_with("{{ a|upper }}") && m[2].starts_with("{{ b + 1 }}"));
        assert!(m[3].contains("(at line 2, column 1)") && m[4].contains("(at line 2, column 11)"), "{m:?}");
    }

    #[test]
    fn syntax_errors_carry_minijinja_s_message_and_the_position() {
        let cases = [
            ("{{ }}", "syntax error: unexpected end of variable block at line 1, column 4"),
            ("ab\n {{ a + }}", "syntax error: unexpected end of variable block at line 2, column 9"),
            ("unclosed {{ a", "syntax error: unexpected end of input, expected end of variable block at line 1, column 13"),
            ("{{ a.-1 }}", "syntax error: unexpected `-`, expected identifier or integer at line 1, column 6"),
            ("{{ a.1x }}", "syntax error: unexpected identifier, expected end of variable block at line 1, column 7"),
            ("{{ a.1e3 }}", "syntax error: unexpected float, expected identifier or integer at line 1, column 6"),
            ("{{ montant_é }}", "syntax error: unexpected character at line 1, column 12"),
            ("{# open", "syntax error: unexpected end of comment at line 1, column 8"),
            ("{% if a %}", "syntax error: unexpected end of input, expected end of block at line 1, column 9"),
        ];
        for (template, want) in cases {
            assert_eq!(refused(template), want, "{template}");
        }
    }

    #[test]
    fn long_templates_are_refused() {
        let p = check_template(&"x".repeat(MAX_TEMPLATE_CHARS + 1), None);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].path.as_str(), p[0].code), ("summary", "limit"));
        assert_eq!(p[0].message, "the template is 2001 characters long; the limit is 2000");
        assert!(check_template(&"é".repeat(MAX_TEMPLATE_CHARS), None).is_empty());
        assert_eq!(check_template("{{ a|b }}", None)[0].code, "template");
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "amount": {"type": "number"},
                "currency": {"type": "string"},
                "purpose": {},
                "requester": {"type": "string"},
                "merchant": {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {"name": {"type": "string"}, "city": {"type": "string"}}
                },
                "lines": {"type": "array", "items": {"type": "object", "additionalProperties": false, "properties": {"sku": {}}}},
                "tags": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": false, "properties": {"v": {}}}},
                "loose": {"type": "object"},
                "either": {"type": ["object", "array"]}
            }
        })
    }

    #[test]
    fn variables_are_checked_against_the_context_schema() {
        let ok = "{{ requester }} {{ amount }} {{ currency }} {{ purpose.anything.deep }} {{ merchant.name }} \
                  {{ merchant }} {{ lines.0.sku }} {{ lines.12 }} {{ tags.x.v }} {{ loose.a.b }} {{ either.0 }} {{ either.k }} \
                  {{ context }} {{ context.requester }} {{ context.merchant.city }} {{ artifact_id }} {{ revision }}";
        assert_eq!(messages(ok, Some(schema())), Vec::<String>::new());
        let m = messages("{{ amout }}", Some(schema()));
        assert_eq!(m, ["unknown variable \"amout\" at line 1, column 4: context_schema allows only amount, currency, either, lines, loose, merchant, purpose, requester, tags (additionalProperties is false); did you mean \"amount\"?"]);
        let m = messages("To {{ merchant.nmae }}", Some(schema()));
        assert_eq!(m, ["unknown variable \"merchant.nmae\" at line 1, column 7: context_schema allows only merchant.city, merchant.name (additionalProperties is false); did you mean \"merchant.name\"?"]);
        let cases = [
            ("{{ context.amout }}", "unknown variable \"context.amout\" at line 1, column 4: context_schema allows only amount"),
            ("{{ lines.0.price }}", "unknown variable \"lines.0.price\" at line 1, column 4: context_schema allows only lines.0.sku (additionalProperties is false)"),
            ("{{ tags.x.w }}", "unknown variable \"tags.x.w\" at line 1, column 4: context_schema allows only tags.x.v"),
            ("{{ amount.value }}", "unknown variable \"amount.value\" at line 1, column 4: context_schema says amount is a number, which has no field \"value\""),
            ("{{ merchant.name.first }}", "unknown variable \"merchant.name.first\" at line 1, column 4: context_schema says merchant.name is a string, which has no field \"first\""),
            ("{{ lines.sku }}", "unknown variable \"lines.sku\" at line 1, column 4: context_schema says lines is an array, which has no field \"sku\" (its first item is lines.0)"),
            ("{{ requester.name }}", "unknown variable \"requester.name\" at line 1, column 4: requester is the request's requester (text) and has no fields; a context key of that name is context.requester.name"),
            ("{{ revision.x }}", "unknown variable \"revision.x\" at line 1, column 4: revision is the request's revision (a number) and has no fields"),
        ];
        for (t, start) in cases {
            let m = messages(t, Some(schema()));
            assert_eq!(m.len(), 1, "{t}: {m:?}");
            assert!(m[0].starts_with(start), "{t}: {}", m[0]);
        }
        // Request fields have no fields whatever the schema.
        assert_eq!(messages("{{ policy_key.x }}", None).len(), 1);
        // A schema that leaves additional properties open allows any key.
        assert!(messages("{{ anything.at.all }}", Some(json!({"properties": {"a": {}}}))).is_empty());
        assert!(messages("{{ anything }}", Some(json!({}))).is_empty());
        // A property schema of `false` forbids the key.
        let m = messages("{{ gone.x }}", Some(json!({"properties": {"gone": false}})));
        assert_eq!(m, ["unknown variable \"gone.x\" at line 1, column 4: context_schema does not allow gone at all"]);
        // Without properties and closed: nothing is allowed.
        let m = messages("{{ a }}", Some(json!({"additionalProperties": false})));
        assert_eq!(m, ["unknown variable \"a\" at line 1, column 4: context_schema allows no keys in the context"]);
        // No "did you mean" when nothing is close, or two are equally close.
        let m = messages("{{ zzz }}", Some(json!({"additionalProperties": false, "properties": {"ab": {}, "ac": {}}})));
        assert!(!m[0].contains("did you mean"), "{m:?}");
        let m = messages("{{ aa }}", Some(json!({"additionalProperties": false, "properties": {"ab": {}, "ac": {}}})));
        assert!(!m[0].contains("did you mean"), "{m:?}");
        // Each use is reported where it is.
        let m = messages("{{ x }}\n{{ x }}", Some(json!({"additionalProperties": false})));
        assert!(m[0].contains("line 1, column 4") && m[1].contains("line 2, column 4"), "{m:?}");
    }

    #[test]
    fn request_fields_and_context_keys() {
        let ctx = json!({"requester": "someone else", "revision": 99, "amount": 5, "artifact_id": "ctx-id"});
        assert_eq!(
            show("{{requester}}|{{artifact_type}}|{{artifact_id}}|{{policy_key}}|{{policy_version}}|{{revision}}", ctx.clone()),
            "sam|expense_report|EXP-42|expense.report|3|2"
        );
        assert_eq!(show("{{ context.requester }} {{ context.revision }} {{ context.artifact_id }}", ctx.clone()), "someone else 99 ctx-id");
        assert_eq!(show("{{ context }}", json!({"b": 1, "a": [true, null]})), r#"{"a":[true,null],"b":1}"#);
        // No requester: empty.
        let r = RequestFields { requester: None, ..request() };
        assert_eq!(render("[{{ requester }}]", &ctx, &r), "[]");
    }

    #[test]
    fn missing_values_render_as_nothing() {
        let ctx = json!({"a": {"b": null}, "s": "text", "n": 5, "list": [1]});
        assert_eq!(show("[{{ nope }}][{{ a.b }}][{{ a.b.c }}][{{ a.x.y.z }}][{{ s.0 }}][{{ n.x }}][{{ list.5 }}][{{ list.x }}]", ctx), "[][][][][][][][]");
        assert_eq!(show("[{{ x }}]", json!(null)), "[]");
        assert_eq!(show("[{{ x }}][{{ context }}]", json!([1, 2])), "[][[1,2]]");
        assert_eq!(show("[{{ context.0 }}]", json!([7])), "[7]");
    }

    #[test]
    fn numbers_render_exactly_as_sent() {
        let ctx: Value = serde_json::from_str(
            r#"{"big": 98765432109876543210, "price": 1.50, "neg": -0.0, "exp": 1E+400, "small": 1e-7, "int": 42, "list": [1.10, 98765432109876543210]}"#,
        )
        .unwrap();
        assert_eq!(
            show("{{ big }} {{ price }} {{ neg }} {{ exp }} {{ small }} {{ int }} {{ list }} {{ list.0 }}", ctx),
            "98765432109876543210 1.50 -0.0 1e+400 1e-7 42 [1.10,98765432109876543210] 1.10"
        );
    }

    #[test]
    fn scalars_arrays_and_objects() {
        let ctx = json!({"yes": true, "no": false, "nil": null, "s": "a \"quoted\" <b>&amp;</b>",
                         "items": [{"name": "pen", "qty": 2}, {"name": "ink"}], "m": {"k": "v", "n": {"x": [1, "2"]}}});
        assert_eq!(show("{{ yes }} {{ no }} [{{ nil }}] {{ s }}", ctx.clone()), "true false [] a \"quoted\" <b>&amp;</b>");
        assert_eq!(show("{{ items.0.name }}, {{ items.1.name }} ({{ items.0.qty }})", ctx.clone()), "pen, ink (2)");
        assert_eq!(show("{{ items }}", ctx.clone()), r#"[{"name":"pen","qty":2},{"name":"ink"}]"#);
        assert_eq!(show("{{ m }} {{ m.n }} {{ m.n.x.1 }}", ctx.clone()), r#"{"k":"v","n":{"x":[1,"2"]}} {"x":[1,"2"]} 2"#);
        // An index on an object is its key of that name.
        assert_eq!(show("{{ m2.0 }}", json!({"m2": {"0": "zero"}})), "zero");
        // Whitespace control trims the text beside a tag.
        assert_eq!(show("a   {{- yes -}}   b", ctx), "atrueb");
    }

    #[test]
    fn unicode_and_control_characters() {
        let ctx = json!({"who": "Zoë 日本 🎉", "ctl": "a\u{0}b\u{7}c\td\r\ne\u{85}f\u{1b}[31m"});
        assert_eq!(show("{{ who }} → ✓", ctx.clone()), "Zoë 日本 🎉 → ✓");
        assert_eq!(show("{{ ctl }}", ctx.clone()), "abcd\nef[31m");
        assert_eq!(show("tab\there\r\nnext", ctx), "tabhere\nnext");
    }

    #[test]
    fn output_is_capped_at_a_character_boundary() {
        let ctx = json!({"long": "é".repeat(1500), "ok": "x".repeat(MAX_SUMMARY_CHARS), "big": (0..100_000).collect::<Vec<u32>>()});
        let out = show("{{ long }}", ctx.clone());
        assert_eq!(out.chars().count(), MAX_SUMMARY_CHARS);
        assert_eq!(out, format!("{}…", "é".repeat(MAX_SUMMARY_CHARS - 1)));
        // Exactly at the cap: not cut.
        assert_eq!(show("{{ ok }}", ctx.clone()), "x".repeat(MAX_SUMMARY_CHARS));
        assert!(show("{{ ok }}!", ctx.clone()).ends_with("x…"));
        // A big array is cut too (and not serialized in full).
        let out = show("ids: {{ big }} end", ctx.clone());
        assert_eq!(out.chars().count(), MAX_SUMMARY_CHARS);
        assert!(out.starts_with("ids: [0,1,2,3,") && out.ends_with('…'), "{out}");
        let mut emoji = String::new();
        for _ in 0..600 {
            emoji.push('🎉');
        }
        let out = show("{{ e }}{{ e }}", json!({"e": emoji}));
        assert_eq!(out.chars().count(), MAX_SUMMARY_CHARS);
    }

    #[test]
    fn a_template_that_does_not_compile_renders_empty() {
        assert_eq!(render("{{ a|upper }}", &json!({"a": "x"}), &request()), "");
        assert_eq!(render("{% if %}", &json!({}), &request()), "");
        assert_eq!(render("{{ a }}", &json!({"a": "x"}), &request()), "x");
    }

    #[test]
    fn the_cache_is_bounded() {
        for i in 0..CACHE_CAPACITY * 2 + 3 {
            assert_eq!(render(&format!("{i} {{{{ a }}}}"), &json!({"a": 1}), &request()), format!("{i} 1"));
        }
        CACHE.with(|c| assert!(c.borrow().len() <= CACHE_CAPACITY));
    }

    /// Informational only (no timed assertion): the cost of a cached render.
    #[test]
    fn cached_render_cost() {
        let template = "{{requester}} asks {{amount}} {{currency}} for {{purpose}} at {{ merchant.name }}";
        let ctx = json!({"amount": 12500, "currency": "EUR", "purpose": "team offsite", "merchant": {"name": "Hotel Adler"},
                         "submitter": "sam", "manager": "mia", "lines": [1, 2, 3]});
        let r = request();
        assert_eq!(render(template, &ctx, &r), "sam asks 12500 EUR for team offsite at Hotel Adler");
        let n = 10_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(render(std::hint::black_box(template), &ctx, &r));
        }
        eprintln!("summary render (cached): {:.2} us per render", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
}
