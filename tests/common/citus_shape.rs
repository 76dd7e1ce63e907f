//! The Citus-shape rules: what a statement of awe's must look like to run
//! on Citus with awe's tables distributed by `tenant_id`. Each rule names a
//! construct Citus 13 refused (or ran wrongly) when awe was tried on it;
//! `make test` applies them to every statement the engine ran during a pass
//! of the end-to-end suite (awe.trace_statements), to every statement in
//! awe's SQL functions and views, and to its row-level policies. A rule is
//! checked on the parse tree (libpg_query, Postgres' own parser), not on
//! text.
//!
//! What the rules cannot see: function overloads are not resolved (a name
//! counts as its most volatile overload) and operators and casts are not
//! looked up, so they are a floor; docs/scale-out.md says what was tried
//! on a real Citus cluster.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// A marker in a statement's text: it reads every tenant's rows on purpose
/// (a plain read, no lock or write), e.g. the worker finding the tenants
/// that have due work. Citus runs such a read on every node.
pub const ALL_TENANTS: &str = "awe:all-tenants";

/// What the rules need to know about the schema.
#[derive(Default)]
pub struct Catalog {
    /// Tables distributed by tenant_id (bare names in schema awe), with their columns.
    pub distributed: HashMap<String, HashSet<String>>,
    /// Volatility (`i`, `s`, `v`) by function name: `awe.name`, or the bare
    /// name for pg_catalog; the most volatile overload.
    pub volatility: HashMap<String, char>,
}

impl Catalog {
    fn volatility_of(&self, name: &str) -> char {
        // Unknown functions count as volatile.
        self.volatility.get(name).copied().unwrap_or('v')
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub rule: &'static str,
    pub detail: String,
}

impl Violation {
    fn new(rule: &'static str, detail: impl Into<String>) -> Violation {
        Violation { rule, detail: detail.into() }
    }
}

/// The rules, with what each prevents.
pub const RULES: &[(&str, &str)] = &[
    ("invalid-sql", "a statement Postgres' parser refuses: it fails when it runs, whatever the database"),
    ("policy-subquery", "a row-level policy contains a subquery: Citus refuses to create it on a distributed table"),
    ("tenant-filter", "a statement reads or writes a distributed table without tenant_id = <value> (or equality to a filtered table's tenant_id): it goes to every node, and a lock or write there is a cross-tenant one"),
    ("one-table-write", "a statement writes more than one table: on Citus the tables' rows may be on different nodes, and the transaction ends in a two-phase commit"),
    ("mutable-in-write", "a write to a distributed table calls a function that is not IMMUTABLE inside CASE or COALESCE, in ON CONFLICT or in RETURNING: Citus refuses it"),
    ("target-list-subquery", "a locking or writing statement (a claim), or an all-tenant read, has a subquery in its select or RETURNING list: Citus cannot push it down"),
    ("pushed-down-function", "a statement over a distributed table calls one of awe's own non-IMMUTABLE functions: Citus runs the statement, function and all, on the node with the rows, where the caller's session (tenant, actor) does not exist"),
    ("sql-function-parameters", "a LANGUAGE sql function with parameters reads a distributed table: Citus could not plan it"),
];

// ---- parse-tree access --------------------------------------------------------

/// The statements of `sql`, each as its parse-tree node ({"SelectStmt": …}).
pub fn parse(sql: &str) -> Result<Vec<Value>, String> {
    let tree = pg_query::parse(sql, pg_query::ParserOptions::default()).map_err(|e| e.to_string())?;
    let json = serde_json::to_value(&tree.protobuf).map_err(|e| e.to_string())?;
    Ok(json["stmts"].as_array().cloned().unwrap_or_default().into_iter().map(|s| node(&s["stmt"]).clone()).collect())
}

/// The node inside a `{"node": {...}}` wrapper (or the value itself).
fn node(v: &Value) -> &Value {
    v.get("node").unwrap_or(v)
}

/// `(kind, body)` of a node such as {"SelectStmt": {...}}.
fn kind(v: &Value) -> Option<(&str, &Value)> {
    node(v).as_object().filter(|o| o.len() == 1).and_then(|o| o.iter().next()).map(|(k, b)| (k.as_str(), b))
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

fn strings(v: &Value) -> Vec<String> {
    items(v).filter_map(|f| kind(f).filter(|(k, _)| *k == "String").and_then(|(_, b)| b["sval"].as_str()).map(str::to_string)).collect()
}

/// Every node below `v` (itself included), depth first.
fn each(v: &Value, f: &mut dyn FnMut(&str, &Value)) {
    if let Some((k, b)) = kind(v) {
        f(k, b);
    }
    match v {
        Value::Object(o) => o.values().for_each(|x| each(x, f)),
        Value::Array(a) => a.iter().for_each(|x| each(x, f)),
        _ => {}
    }
}

fn contains(v: &Value, wanted: &str) -> bool {
    let mut found = false;
    each(v, &mut |k, _| found |= k == wanted);
    found
}

/// A function call's name as the catalog keys it.
fn function_name(call: &Value) -> String {
    let parts = strings(&call["funcname"]);
    match parts.as_slice() {
        [schema, name] if schema == "pg_catalog" => name.clone(),
        [schema, name] => format!("{schema}.{name}"),
        [name] => name.clone(),
        _ => parts.join("."),
    }
}

/// Non-IMMUTABLE calls below `v`: function names, and SQL value functions
/// such as CURRENT_TIMESTAMP.
fn mutable_calls(v: &Value, cat: &Catalog) -> Vec<String> {
    let mut out = Vec::new();
    each(v, &mut |k, b| match k {
        "FuncCall" => {
            let name = function_name(b);
            if cat.volatility_of(&name) != 'i' {
                out.push(format!("{name}()"));
            }
        }
        "SQLValueFunction" => out.push("a SQL value function (CURRENT_TIMESTAMP …)".into()),
        _ => {}
    });
    out
}

// ---- query blocks -------------------------------------------------------------

/// A table named in a block: its alias (or name) and whether it is distributed.
struct TableRef {
    alias: String,
    name: String,
    distributed: bool,
}

/// One SELECT, UPDATE, DELETE or INSERT level of a statement: the tables it
/// reads directly, its conditions, and what it does with rows.
struct Block<'a> {
    tables: Vec<TableRef>,
    /// Names that are columns of this level (set-returning functions' and
    /// subqueries' column aliases), so that a bare name is not a variable.
    local_columns: HashSet<String>,
    /// Aliases of subqueries in FROM: their tenant_id is pinned by their own
    /// conditions (checked as blocks of their own).
    subqueries: HashSet<String>,
    quals: Vec<&'a Value>,
    /// Pairs of tables joined USING (tenant_id).
    using: Vec<(String, String)>,
    writes: Option<String>,
    locks: bool,
    outputs: Vec<&'a Value>,
    conflict: Option<&'a Value>,
    body: &'a Value,
    /// Names of the enclosing blocks' FROM items (a correlated reference):
    /// true for a distributed table or a subquery, whose tenant_id their own
    /// block pins; false for a reference table, a function or a CTE, which
    /// pin nothing (Citus cannot push such a correlation down).
    outer: HashMap<String, bool>,
    /// This block's other FROM names (reference tables, CTEs), for the
    /// blocks it encloses.
    others: HashSet<String>,
}

fn relation(b: &Value, cat: &Catalog) -> Option<TableRef> {
    let schema = b["schemaname"].as_str().unwrap_or("");
    let name = b["relname"].as_str()?.to_string();
    let alias = b["alias"]["aliasname"].as_str().filter(|a| !a.is_empty()).unwrap_or(&name).to_string();
    (schema == "awe").then(|| TableRef { distributed: cat.distributed.contains_key(&name), alias, name })
}

/// FROM items: tables (through joins, with their ON conditions) and the
/// column names of functions and subqueries.
fn from_items<'a>(list: &'a Value, cat: &Catalog, block: &mut Block<'a>) {
    for item in items(list) {
        from_item(item, cat, block);
    }
}

fn from_item<'a>(item: &'a Value, cat: &Catalog, block: &mut Block<'a>) {
    match kind(item) {
        Some(("RangeVar", b)) => match relation(b, cat) {
            Some(t) if t.distributed => block.tables.push(t),
            // A reference or coordinator table of awe's: pins nothing.
            Some(t) => {
                block.others.insert(t.alias);
            }
            // No schema: a CTE of the statement (awe's SQL names its tables
            // with their schema), pinned by its own conditions like a subquery.
            None => {
                let name = b["alias"]["aliasname"].as_str().filter(|a| !a.is_empty()).or(b["relname"].as_str());
                block.subqueries.extend(name.map(str::to_string));
            }
        },
        Some(("JoinExpr", b)) => {
            let left = block.tables.len();
            from_item(&b["larg"], cat, block);
            let right = block.tables.len();
            from_item(&b["rarg"], cat, block);
            if !b["quals"].is_null() {
                block.quals.push(&b["quals"]);
            }
            // JOIN … USING (tenant_id, …): each table on one side equals each on the other.
            if strings(&b["using_clause"]).iter().any(|c| c == "tenant_id") {
                for l in left..right {
                    for r in right..block.tables.len() {
                        block.using.push((block.tables[l].alias.clone(), block.tables[r].alias.clone()));
                    }
                }
            }
        }
        Some((k @ ("RangeFunction" | "RangeSubselect"), b)) => {
            block.local_columns.extend(strings(&b["alias"]["colnames"]));
            if let Some(a) = b["alias"]["aliasname"].as_str() {
                block.local_columns.insert(a.to_string());
                if k == "RangeSubselect" {
                    block.subqueries.insert(a.to_string());
                }
            }
        }
        _ => {}
    }
}

/// Every block of a statement, outermost first.
fn blocks<'a>(stmt: &'a Value, cat: &Catalog) -> Vec<Block<'a>> {
    let mut out = Vec::new();
    collect_blocks(stmt, cat, &mut out);
    out
}

fn collect_blocks<'a>(v: &'a Value, cat: &Catalog, out: &mut Vec<Block<'a>>) {
    visit(v, cat, out, &HashMap::new());
}

fn visit<'a>(v: &'a Value, cat: &Catalog, out: &mut Vec<Block<'a>>, scope: &HashMap<String, bool>) {
    let block = match kind(v) {
        Some(("SelectStmt", b)) => return visit_select(b, cat, out, scope),
        Some((k @ ("UpdateStmt" | "DeleteStmt"), b)) => {
            let mut block = Block::new(b, scope);
            match relation(&b["relation"], cat) {
                Some(t) => {
                    block.writes = Some(t.name.clone());
                    if t.distributed {
                        block.tables.push(t);
                    } else {
                        block.others.insert(t.alias);
                    }
                }
                None => {}
            }
            from_items(&b[if k == "UpdateStmt" { "from_clause" } else { "using_clause" }], cat, &mut block);
            if !b["where_clause"].is_null() {
                block.quals.push(&b["where_clause"]);
            }
            block.outputs.extend([&b["target_list"], returning(b)]);
            Some((block, b))
        }
        Some(("InsertStmt", b)) => {
            let mut block = Block::new(b, scope);
            block.writes = relation(&b["relation"], cat).map(|t| t.name);
            block.outputs.push(returning(b));
            block.conflict = Some(&b["on_conflict_clause"]).filter(|c| !c.is_null());
            Some((block, b))
        }
        _ => None,
    };
    match block {
        Some((block, body)) => {
            let inner = block.scope();
            out.push(block);
            children(body, cat, out, &inner, &[]);
        }
        None => children(v, cat, out, scope, &[]),
    }
}

fn children<'a>(v: &'a Value, cat: &Catalog, out: &mut Vec<Block<'a>>, scope: &HashMap<String, bool>, skip: &[&str]) {
    match v {
        Value::Object(o) => o.iter().filter(|(k, _)| !skip.contains(&k.as_str())).for_each(|(_, x)| visit(x, cat, out, scope)),
        Value::Array(a) => a.iter().for_each(|x| visit(x, cat, out, scope)),
        _ => {}
    }
}

/// A SELECT's block, or both sides' of a UNION, INTERSECT or EXCEPT (whose
/// sides are SELECT bodies, not wrapped nodes).
fn visit_select<'a>(b: &'a Value, cat: &Catalog, out: &mut Vec<Block<'a>>, scope: &HashMap<String, bool>) {
    // op 1 = SETOP_NONE
    if b["op"].as_i64().unwrap_or(1) > 1 {
        visit_select(&b["larg"], cat, out, scope);
        visit_select(&b["rarg"], cat, out, scope);
        return children(b, cat, out, scope, &["larg", "rarg"]);
    }
    if items(&b["values_lists"]).next().is_some() {
        return children(b, cat, out, scope, &[]);
    }
    let mut block = Block::new(b, scope);
    from_items(&b["from_clause"], cat, &mut block);
    block.quals.extend([&b["where_clause"], &b["having_clause"]].into_iter().filter(|q| !q.is_null()));
    block.locks = items(&b["locking_clause"]).next().is_some();
    block.outputs.push(&b["target_list"]);
    let inner = block.scope();
    out.push(block);
    children(b, cat, out, &inner, &[]);
}

impl<'a> Block<'a> {
    fn new(body: &'a Value, outer: &HashMap<String, bool>) -> Block<'a> {
        Block { tables: vec![], local_columns: HashSet::new(), subqueries: HashSet::new(), quals: vec![], using: vec![], writes: None, locks: false,
                outputs: vec![], conflict: None, body, outer: outer.clone(), others: HashSet::new() }
    }

    /// The names blocks inside this one see.
    fn scope(&self) -> HashMap<String, bool> {
        let mut s = self.outer.clone();
        s.extend(self.others.iter().map(|a| (a.clone(), false)));
        s.extend(self.local_columns.iter().filter(|a| !self.subqueries.contains(*a)).map(|a| (a.clone(), false)));
        s.extend(self.subqueries.iter().map(|a| (a.clone(), true)));
        s.extend(self.tables.iter().map(|t| (t.alias.clone(), true)));
        s
    }
}

/// A write's RETURNING expressions.
fn returning(b: &Value) -> &Value {
    &b["returning_clause"]["exprs"]
}

/// The AND-ed conditions of a qual list.
fn conjuncts<'a>(quals: &[&'a Value]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = quals.to_vec();
    while let Some(q) = stack.pop() {
        match kind(q) {
            // boolop 1 = AND_EXPR
            Some(("BoolExpr", b)) if b["boolop"].as_i64() == Some(1) => stack.extend(items(&b["args"])),
            _ => out.push(q),
        }
    }
    out
}

/// What a side of an equality is, seen from a block.
enum Side {
    /// A column of one of the block's tables (alias, column).
    Column(String, String),
    /// A column of a function or subquery of the block.
    Local,
    /// A value: a parameter, constant, variable, outer column or expression of those.
    Value,
}

impl Block<'_> {
    fn side(&self, v: &Value, cat: &Catalog) -> Side {
        let v = match kind(v) {
            Some(("TypeCast", b)) => &b["arg"],
            _ => v,
        };
        match kind(v) {
            Some(("ColumnRef", b)) => {
                let f = strings(&b["fields"]);
                match f.as_slice() {
                    [q, c] if self.tables.iter().any(|t| &t.alias == q) => Side::Column(q.clone(), c.clone()),
                    [q, _] if self.subqueries.contains(q) => Side::Value,
                    [q, _] if self.local_columns.contains(q) || self.others.contains(q) => Side::Local,
                    [q, _] if self.outer.get(q) == Some(&false) => Side::Local,
                    [c] => {
                        let owners: Vec<&TableRef> = self.tables.iter()
                            .filter(|t| cat.distributed.get(&t.name).is_some_and(|cols| cols.contains(c))).collect();
                        match owners.as_slice() {
                            [t] => Side::Column(t.alias.clone(), c.clone()),
                            _ if self.local_columns.contains(c) => Side::Local,
                            _ => Side::Value,
                        }
                    }
                    _ => Side::Value,
                }
            }
            Some(_) if self.mentions_columns(v, cat) => Side::Local,
            _ => Side::Value,
        }
    }

    /// Whether an expression reads a column of this block.
    fn mentions_columns(&self, v: &Value, cat: &Catalog) -> bool {
        let mut found = false;
        each(v, &mut |k, b| {
            if k == "ColumnRef" && !found {
                found = !matches!(self.side(&serde_json::json!({"ColumnRef": b}), cat), Side::Value);
            }
        });
        found
    }

    /// The distributed tables of this block not pinned to one tenant.
    fn unfiltered(&self, cat: &Catalog) -> Vec<String> {
        let mut pinned: HashSet<String> = HashSet::new();
        let mut joins: Vec<(String, String)> = self.using.clone();
        for c in conjuncts(&self.quals) {
            let Some(("AExpr", e)) = kind(c) else { continue };
            // kind 1 = AEXPR_OP
            if e["kind"].as_i64() != Some(1) || strings(&e["name"]) != ["="] {
                continue;
            }
            // (a, b) = (c, d) is a = c and b = d (as Postgres reads it).
            let pairs: Vec<(&Value, &Value)> = match (kind(&e["lexpr"]), kind(&e["rexpr"])) {
                (Some(("RowExpr", l)), Some(("RowExpr", r))) => items(&l["args"]).zip(items(&r["args"])).collect(),
                _ => vec![(&e["lexpr"], &e["rexpr"])],
            };
            for (l, r) in pairs {
                match (self.side(l, cat), self.side(r, cat)) {
                    (Side::Column(a, c), Side::Value) | (Side::Value, Side::Column(a, c)) if c == "tenant_id" => {
                        pinned.insert(a);
                    }
                    (Side::Column(a, c1), Side::Column(b, c2)) if c1 == "tenant_id" && c2 == "tenant_id" => joins.push((a, b)),
                    _ => {}
                }
            }
        }
        loop {
            let before = pinned.len();
            for (a, b) in &joins {
                if pinned.contains(a) || pinned.contains(b) {
                    pinned.insert(a.clone());
                    pinned.insert(b.clone());
                }
            }
            if pinned.len() == before {
                break;
            }
        }
        self.tables.iter().filter(|t| t.distributed && !pinned.contains(&t.alias)).map(|t| t.name.clone()).collect()
    }
}

// ---- the rules ----------------------------------------------------------------

/// Every rule a statement breaks. `sql` is one statement (or several).
pub fn check_statement(sql: &str, cat: &Catalog) -> Result<Vec<Violation>, String> {
    let mut out = Vec::new();
    for stmt in parse(sql)? {
        check_parsed(sql, &stmt, cat, &mut out);
    }
    Ok(out)
}

fn check_parsed(sql: &str, stmt: &Value, cat: &Catalog, out: &mut Vec<Violation>) {
    let blocks = blocks(stmt, cat);
    let all_tenants = sql.contains(ALL_TENANTS);
    let distributed = blocks.iter().any(|b| b.tables.iter().any(|t| t.distributed))
        || blocks.iter().any(|b| b.writes.as_ref().is_some_and(|w| cat.distributed.contains_key(w)));

    let written: Vec<&String> = blocks.iter().filter_map(|b| b.writes.as_ref()).collect();
    if written.len() > 1 {
        out.push(Violation::new("one-table-write", format!("writes {}", written.iter().map(|w| format!("awe.{w}")).collect::<Vec<_>>().join(", "))));
    }
    for b in &blocks {
        let claim = b.locks || b.writes.is_some();
        let unfiltered = b.unfiltered(cat);
        if !unfiltered.is_empty() && (claim || !all_tenants) {
            let what = if b.writes.is_some() { "writes" } else if b.locks { "locks rows of" } else { "reads" };
            out.push(Violation::new("tenant-filter", format!("{what} {} without a tenant_id filter{}", unfiltered.iter().map(|t| format!("awe.{t}")).collect::<Vec<_>>().join(", "),
                if claim && all_tenants { format!(" (\"{ALL_TENANTS}\" is for plain reads only)") } else { String::new() })));
        }
        if (claim || (all_tenants && !unfiltered.is_empty())) && b.outputs.iter().any(|o| contains(o, "SubLink")) {
            out.push(Violation::new("target-list-subquery", "a subquery in the select or RETURNING list"));
        }
        if b.writes.as_ref().is_some_and(|w| cat.distributed.contains_key(w)) {
            let mut bad = Vec::new();
            each(b.body, &mut |k, e| {
                if matches!(k, "CaseExpr" | "CoalesceExpr") {
                    bad.extend(mutable_calls(&serde_json::json!({k: e}), cat).into_iter().map(|c| format!("{c} in {}", if k == "CaseExpr" { "CASE" } else { "COALESCE" })));
                }
            });
            if let Some(c) = b.conflict {
                bad.extend(mutable_calls(c, cat).into_iter().map(|c| format!("{c} in ON CONFLICT")));
            }
            bad.extend(mutable_calls(returning(b.body), cat).into_iter().map(|c| format!("{c} in RETURNING")));
            bad.dedup();
            if !bad.is_empty() {
                out.push(Violation::new("mutable-in-write", bad.join(", ")));
            }
        }
    }
    if distributed {
        let mut own = Vec::new();
        each(stmt, &mut |k, b| {
            if k == "FuncCall" {
                let name = function_name(b);
                if name.starts_with("awe.") && cat.volatility_of(&name) != 'i' && !own.contains(&name) {
                    own.push(name);
                }
            }
        });
        if !own.is_empty() {
            out.push(Violation::new("pushed-down-function", format!("calls {}", own.iter().map(|n| format!("{n}()")).collect::<Vec<_>>().join(", "))));
        }
    }
}

/// A row-level policy's condition (as pg_policies shows it).
pub fn check_policy(qual: &str) -> Result<Vec<Violation>, String> {
    let stmts = parse(&format!("select 1 where {qual}"))?;
    Ok(if stmts.iter().any(|s| contains(s, "SubLink")) {
        vec![Violation::new("policy-subquery", qual.to_string())]
    } else {
        vec![]
    })
}

/// A LANGUAGE sql function: its parameters and body.
pub fn check_sql_function(parameters: usize, body: &str, cat: &Catalog) -> Result<Vec<Violation>, String> {
    let mut tables = Vec::new();
    for stmt in parse(body)? {
        for b in blocks(&stmt, cat) {
            tables.extend(b.tables.iter().filter(|t| t.distributed).map(|t| format!("awe.{}", t.name)));
        }
    }
    tables.dedup();
    Ok(if parameters > 0 && !tables.is_empty() {
        vec![Violation::new("sql-function-parameters", format!("reads {}", tables.join(", ")))]
    } else {
        vec![]
    })
}

/// The SQL statements of a PL/pgSQL function (its `CREATE FUNCTION` text as
/// pg_get_functiondef gives it): statements as they are, expressions and
/// assignments as `SELECT <expression>`.
pub fn plpgsql_statements(definition: &str) -> Result<Vec<String>, String> {
    // libpg_query writes invalid JSON for a trigger function's implicit
    // variables; the statements are the same in a function returning record.
    let definition = without_awe_types(&definition.replacen("RETURNS trigger", "RETURNS record", 1));
    let tree = pg_query::parse_plpgsql(&definition).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    collect_plpgsql(&tree, &mut out);
    Ok(out)
}

/// The definition with variables of awe's row types (`v awe.policy_version;`,
/// `s awe.task.status%type;`) declared as `record`: libpg_query cannot look
/// types up outside pg_catalog, and the statements do not change.
fn without_awe_types(definition: &str) -> String {
    // The header (arguments and return type) first.
    let (head, rest) = definition.split_at(definition.find("$function$").unwrap_or(0));
    let (name, signature) = head.split_at(head.find('(').unwrap_or(0));
    let mut signature = signature.to_string();
    for schema in ["awe.", "awe_api."] {
        while let Some(i) = signature.find(schema) {
            let from = i + schema.len();
            let end = signature[from..].find(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(signature.len(), |e| e + from);
            signature.replace_range(i..end, "record");
        }
    }
    let definition = format!("{name}{signature}{rest}");
    let lower = definition.to_lowercase();
    let mut out = String::with_capacity(definition.len());
    let mut at = 0;
    while let Some(d) = find_word(&lower, "declare", at) {
        let body = d + "declare".len();
        let Some(end) = find_word(&lower, "begin", body) else { break };
        out.push_str(&definition[at..body]);
        let decls: Vec<String> = definition[body..end].split(';').map(|decl| {
            let words: Vec<&str> = decl.split_whitespace().collect();
            let ty = if words.get(1).is_some_and(|w| w.eq_ignore_ascii_case("constant")) { 2 } else { 1 };
            match words.get(ty) {
                Some(t) if t.to_lowercase().starts_with("awe.") || t.to_lowercase().starts_with("awe_api.") => decl.replacen(t, "record", 1),
                _ => decl.to_string(),
            }
        }).collect();
        out.push_str(&decls.join(";"));
        at = end;
    }
    out.push_str(&definition[at..]);
    out
}

/// The next position of `word` as a whole word in `text` from `from`.
fn find_word(text: &str, word: &str, from: usize) -> Option<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut at = from;
    while let Some(i) = text[at..].find(word).map(|i| i + at) {
        let before = text[..i].chars().next_back().is_none_or(|c| !is_word(c));
        let after = text[i + word.len()..].chars().next().is_none_or(|c| !is_word(c));
        if before && after {
            return Some(i);
        }
        at = i + word.len();
    }
    None
}

fn collect_plpgsql(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(e) = o.get("PLpgSQL_expr") {
                let query = e["query"].as_str().unwrap_or("");
                out.push(match e["parseMode"].as_i64().unwrap_or(0) {
                    0 => query.to_string(),
                    // assignments: "x := <expression>"
                    3..=5 => format!("SELECT {}", query.split_once(":=").or_else(|| query.split_once('=')).map_or(query, |(_, r)| r)),
                    _ => format!("SELECT {query}"),
                });
            }
            o.values().for_each(|x| collect_plpgsql(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_plpgsql(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    //! Each rule on a deliberately broken statement, and on its repair.
    use super::*;

    fn catalog() -> Catalog {
        let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        let mut cat = Catalog::default();
        cat.distributed.insert("task".into(), cols(&["tenant_id", "task_id", "request_id", "status", "assignee", "updated_at"]));
        cat.distributed.insert("request".into(), cols(&["tenant_id", "request_id", "status"]));
        cat.distributed.insert("principal".into(), cols(&["tenant_id", "principal_id", "updated_at"]));
        cat.distributed.insert("delivery".into(), cols(&["tenant_id", "delivery_id", "status", "next_attempt_at"]));
        for (f, v) in [("now", 's'), ("coalesce", 'i'), ("lower", 'i'), ("count", 'i'), ("unnest", 'i'), ("awe._from_us", 's'),
                       ("awe._to_us", 'i'), ("awe._raise", 'v'), ("awe.current_tenant", 's'), ("format", 's')] {
            cat.volatility.insert(f.into(), v);
        }
        cat
    }

    fn rules(sql: &str) -> Vec<&'static str> {
        let mut r: Vec<_> = check_statement(sql, &catalog()).unwrap().into_iter().map(|v| v.rule).collect();
        r.sort();
        r.dedup();
        r
    }

    #[test]
    fn policies_without_subqueries() {
        assert_eq!(check_policy("(tenant_id = ( SELECT awe.current_tenant() AS current_tenant))").unwrap()[0].rule, "policy-subquery");
        assert!(check_policy("(tenant_id = awe.current_tenant())").unwrap().is_empty());
    }

    #[test]
    fn every_distributed_table_is_pinned_to_one_tenant() {
        assert_eq!(rules("select status from awe.task where task_id = $1"), ["tenant-filter"]);
        assert!(rules("select status from awe.task where tenant_id = $1 and task_id = $2").is_empty());
        // A plpgsql variable, a qualified parameter, a cast parameter: values.
        assert!(rules("select status from awe.task k where k.tenant_id = t").is_empty());
        assert!(rules("select status from awe.task k where k.tenant_id = f.tenant and k.task_id = $1::uuid").is_empty());
        assert!(rules("select status from awe.task where tenant_id = $1::text").is_empty());
        // A join: pinned through the other table's tenant_id, not otherwise.
        assert!(rules("select 1 from awe.task k join awe.request r on r.tenant_id = k.tenant_id and r.request_id = k.request_id where k.tenant_id = $1").is_empty());
        assert_eq!(rules("select 1 from awe.task k join awe.request r on r.request_id = k.request_id where k.tenant_id = $1"), ["tenant-filter"]);
        // An OR does not pin.
        assert_eq!(rules("select 1 from awe.task where tenant_id = $1 or status = 'open'"), ["tenant-filter"]);
        // Writes and locks.
        assert_eq!(rules("update awe.task set status = 'x' where task_id = $1"), ["tenant-filter"]);
        assert_eq!(rules("delete from awe.delivery where status = 'delivered'"), ["tenant-filter"]);
        assert!(rules("delete from awe.delivery where tenant_id = $1 and status = 'delivered'").is_empty());
        // A subquery is checked on its own; a correlated one pins through the outer row.
        assert_eq!(rules("select 1 from awe.request r where r.tenant_id = $1 and exists (select 1 from awe.task k where k.request_id = r.request_id)"), ["tenant-filter"]);
        assert!(rules("select 1 from awe.request r where r.tenant_id = $1 and exists (select 1 from awe.task k where k.tenant_id = r.tenant_id and k.request_id = r.request_id)").is_empty());
        // JOIN … USING (tenant_id), a row equality, a pinned subquery or CTE, both sides of a UNION.
        assert!(rules("select 1 from awe.task k join awe.request r on (r.tenant_id, r.request_id) = (k.tenant_id, k.request_id) where k.tenant_id = $1").is_empty());
        assert!(rules("with due as (select tenant_id, task_id from awe.task where tenant_id = $1 for update skip locked)
                       update awe.task k set status = 'x' from due where k.tenant_id = due.tenant_id and k.task_id = due.task_id").is_empty());
        assert!(rules("select 1 from awe.task k join awe.request r using (tenant_id, request_id) where k.tenant_id = $1").is_empty());
        assert!(rules("select 1 from (select * from awe.task where tenant_id = $1 limit 5) t join awe.request r on r.tenant_id = t.tenant_id").is_empty());
        assert_eq!(rules("select 1 from awe.task where tenant_id = $1 union select 1 from awe.request"), ["tenant-filter"]);
        // Correlated through a reference table's row or a function's: not
        // pinned (Citus: "correlated subqueries are not supported when the
        // FROM clause contains a reference table").
        assert_eq!(rules("select t.tenant_id from awe.tenant t where exists (select 1 from awe.task k where k.tenant_id = t.tenant_id)"), ["tenant-filter"]);
        assert_eq!(rules("select x.task_id from unnest($1::text[]) d(tenant_id) cross join lateral (select k.task_id from awe.task k where k.tenant_id = d.tenant_id limit 5) x"),
                   ["tenant-filter"]);
        // Tables outside awe and set-returning functions are not checked.
        assert!(rules("select x.id from unnest($1::text[]) x(id)").is_empty());
    }

    #[test]
    fn all_tenant_reads_are_marked_and_never_lock() {
        assert!(rules("select distinct tenant_id from awe.delivery /* awe:all-tenants: who has work */ where status = 'pending'").is_empty());
        assert_eq!(rules("select delivery_id from awe.delivery /* awe:all-tenants */ where status = 'pending' for update skip locked"), ["tenant-filter"]);
        assert_eq!(rules("update awe.delivery /* awe:all-tenants */ set status = 'x' where status = 'pending'"), ["tenant-filter"]);
    }

    #[test]
    fn one_table_per_write() {
        assert_eq!(rules("with r as (update awe.request set status = $3 where tenant_id = $1 and request_id = $2)
                          insert into awe.task (tenant_id, task_id) select $1, x from unnest($4::uuid[]) x"), ["one-table-write"]);
        assert!(rules("insert into awe.task (tenant_id, task_id) select $1, x from unnest($4::uuid[]) x").is_empty());
    }

    #[test]
    fn writes_call_only_immutable_functions_where_citus_evaluates_lazily() {
        assert_eq!(rules("update awe.task set updated_at = case when $3 then awe._from_us($4) else updated_at end where tenant_id = $1 and task_id = $2"),
                   ["mutable-in-write", "pushed-down-function"]);
        assert_eq!(rules("update awe.task set updated_at = case when $3 then $4 else updated_at end where tenant_id = $1 and task_id = $2"), Vec::<&str>::new());
        assert_eq!(rules("update awe.task set updated_at = coalesce($3, now()) where tenant_id = $1 and task_id = $2"), ["mutable-in-write"]);
        assert_eq!(rules("insert into awe.principal (tenant_id, principal_id, updated_at) values ($1, $2, $3)
                          on conflict (tenant_id, principal_id) do update set updated_at = now()"), ["mutable-in-write"]);
        assert!(rules("insert into awe.principal (tenant_id, principal_id, updated_at) values ($1, $2, $3)
                       on conflict (tenant_id, principal_id) do update set updated_at = excluded.updated_at").is_empty());
        assert_eq!(rules("update awe.task set status = 'x' where tenant_id = $1 and task_id = $2 returning now()"), ["mutable-in-write"]);
    }

    #[test]
    fn claims_have_no_subquery_in_their_select_list() {
        assert_eq!(rules("select d.delivery_id, (select count(*) from awe.delivery o where o.tenant_id = d.tenant_id) from awe.delivery d
                          where d.tenant_id = $1 for update skip locked"), ["target-list-subquery"]);
        assert!(rules("select d.delivery_id from awe.delivery d where d.tenant_id = $1 for update skip locked").is_empty());
        // A plain read of one tenant may have one.
        assert!(rules("select r.request_id, (select count(*) from awe.task k where k.tenant_id = r.tenant_id and k.request_id = r.request_id)
                       from awe.request r where r.tenant_id = $1").is_empty());
    }

    #[test]
    fn awe_functions_stay_out_of_statements_over_distributed_tables() {
        assert_eq!(rules("select awe._raise('AWE-NOT-FOUND', 'x') where not exists (select 1 from awe.principal where tenant_id = t and principal_id = p)"),
                   ["pushed-down-function"]);
        assert!(rules("select exists (select 1 from awe.principal where tenant_id = t and principal_id = p)").is_empty());
        // Immutable helpers run anywhere.
        assert!(rules("select awe._to_us(updated_at) from awe.task where tenant_id = $1").is_empty());
        // A statement over no distributed table may call anything.
        assert!(rules("select awe._raise('AWE-NOT-FOUND', 'x')").is_empty());
    }

    #[test]
    fn sql_functions_with_parameters_do_not_read_distributed_tables() {
        assert_eq!(check_sql_function(1, "select status from awe.task where tenant_id = $1", &catalog()).unwrap()[0].rule, "sql-function-parameters");
        assert!(check_sql_function(0, "select count(*) from awe.task where tenant_id = awe.current_tenant()", &catalog()).unwrap().is_empty());
        assert!(check_sql_function(1, "select $1 + 1", &catalog()).unwrap().is_empty());
    }

    #[test]
    fn plpgsql_bodies_yield_their_statements() {
        let def = "create function f(a int) returns int language plpgsql as $$
            declare t text := awe.current_tenant(); x int;
            begin select count(*) into x from awe.task where tenant_id = t; x := (select 1); perform awe.f(t); return x; end $$";
        let s = plpgsql_statements(def).unwrap();
        assert!(s.iter().any(|q| q.starts_with("select count(*)") && q.contains("from awe.task")), "{s:?}");
        assert!(s.contains(&"SELECT awe.current_tenant()".to_string()), "{s:?}");
        assert!(s.contains(&"SELECT  (select 1)".to_string()), "{s:?}");
        assert!(s.contains(&"SELECT awe.f(t)".to_string()), "{s:?}");
    }
}
