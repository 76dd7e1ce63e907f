//! The Citus-shape check (`make citus-shape`, part of `make test`): every
//! statement awe ran during the preceding end-to-end pass (logged by
//! awe.trace_statements, as it runs on Citus: custom plans, one statement
//! per table), every statement of awe's PL/pgSQL and SQL functions and
//! views, and every row-level policy, against the rules in
//! common/citus_shape.rs. The rules' own tests (a broken example each) run
//! with the library's unit tests.

use awe_e2e::citus_shape::{self, Catalog, Violation};
use awe_e2e::{connect, dev_env};
use std::collections::{BTreeMap, HashMap, HashSet};

fn catalog(c: &mut postgres::Client) -> Catalog {
    let mut cat = Catalog::default();
    for r in c.query("select d.relation::text, array_agg(a.attname::text)
                        from awe.distribution d join pg_attribute a on a.attrelid = d.relation and a.attnum > 0 and not a.attisdropped
                       where d.placement = 'distributed' group by 1", &[]).unwrap() {
        let name: String = r.get(0);
        let cols: Vec<String> = r.get(1);
        cat.distributed.insert(name.trim_start_matches("awe.").to_string(), cols.into_iter().collect());
    }
    assert!(cat.distributed.contains_key("task"), "awe.distribution lists the tenant tables");
    for r in c.query("select case when n.nspname = 'pg_catalog' then p.proname::text else n.nspname || '.' || p.proname end,
                             max(p.provolatile::text)
                        from pg_proc p join pg_namespace n on n.oid = p.pronamespace group by 1", &[]).unwrap() {
        let v: String = r.get(1);
        cat.volatility.insert(r.get(0), v.chars().next().unwrap());
    }
    cat
}

/// What the engine ran during the pass: the log from AWE_TRACE_FROM (a byte
/// offset) on.
fn traced() -> Vec<String> {
    let log = std::fs::read(dev_env("AWE_SERVER_LOG")).expect("the server log");
    let from: usize = std::env::var("AWE_TRACE_FROM").ok().and_then(|v| v.parse().ok()).unwrap_or(0).min(log.len());
    let text = String::from_utf8_lossy(&log[from..]);
    let mut seen = HashSet::new();
    text.lines()
        .filter_map(|l| l.split_once("awe statement: ").map(|(_, s)| s))
        .filter_map(|s| serde_json::from_str::<String>(s).ok())
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

#[test]
fn every_statement_has_the_citus_shape() {
    let mut c = connect();
    let cat = catalog(&mut c);
    // origin → statement → violations
    let mut found: BTreeMap<String, Vec<(String, Vec<Violation>)>> = BTreeMap::new();
    let mut add = |origin: String, sql: String, v: Vec<Violation>| {
        if !v.is_empty() {
            found.entry(origin).or_default().push((sql, v));
        }
    };

    let statements = traced();
    let require_trace = std::env::var("AWE_TRACE_FROM").is_ok();
    assert!(!require_trace || statements.len() > 50, "the pass logged the engine's statements ({} found)", statements.len());
    for sql in &statements {
        let v = citus_shape::check_statement(sql, &cat).unwrap_or_else(|e| panic!("{e}: {sql}"));
        add("the engine (traced)".into(), sql.clone(), v);
    }

    let functions = c.query("select p.oid::regprocedure::text, l.lanname::text, pg_get_functiondef(p.oid), p.prosrc, p.pronargs::int
                               from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_language l on l.oid = p.prolang
                              where n.nspname in ('awe', 'awe_api') and l.lanname in ('plpgsql', 'sql') order by 1", &[]).unwrap();
    assert!(functions.len() > 50, "awe's functions are installed");
    for f in &functions {
        let (name, lang, def, src, nargs): (String, String, String, String, i32) = (f.get(0), f.get(1), f.get(2), f.get(3), f.get(4));
        let statements = if lang == "plpgsql" {
            match citus_shape::plpgsql_statements(&def) {
                Ok(s) => s,
                Err(e) => {
                    add(name.clone(), def.clone(), vec![Violation { rule: "invalid-sql", detail: e }]);
                    continue;
                }
            }
        } else {
            add(name.clone(), src.clone(), citus_shape::check_sql_function(nargs as usize, &src, &cat).unwrap());
            vec![src]
        };
        for sql in statements {
            let v = citus_shape::check_statement(&sql, &cat).unwrap_or_else(|e| vec![Violation { rule: "invalid-sql", detail: e }]);
            add(name.clone(), sql, v);
        }
    }

    // Views: what reads through them does on Citus is docs/scale-out.md's
    // subject (awe.current_tenant() runs where the rows are); the other rules hold.
    // A view no role is granted (the DBA's: dead letters, the backlog, the
    // worker's status) may read every tenant.
    for r in c.query("select c.oid::regclass::text, pg_get_viewdef(c.oid),
                             exists (select 1 from aclexplode(c.relacl) x where x.grantee <> c.relowner)
                        from pg_class c join pg_namespace n on n.oid = c.relnamespace
                       where n.nspname in ('awe', 'awe_api') and c.relkind = 'v' order by 1", &[]).unwrap() {
        let (name, sql, granted): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
        let v = citus_shape::check_statement(&sql, &cat).unwrap().into_iter()
            .filter(|v| v.rule != "pushed-down-function" && (granted || v.rule != "tenant-filter")).collect();
        add(format!("view {name}"), sql, v);
    }

    for r in c.query("select schemaname || '.' || tablename || ' ' || policyname, coalesce(qual, 'true'), coalesce(with_check, 'true')
                        from pg_policies where schemaname = 'awe'", &[]).unwrap() {
        let (name, qual, check): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        for q in [qual, check] {
            add(format!("policy {name}"), q.clone(), citus_shape::check_policy(&q).unwrap());
        }
    }

    let mut report = String::new();
    let mut rules: HashMap<&str, usize> = HashMap::new();
    for (origin, list) in &found {
        for (sql, violations) in list {
            for v in violations {
                *rules.entry(v.rule).or_default() += 1;
                report.push_str(&format!("\n[{}] {origin}: {}\n    {}\n", v.rule, v.detail, sql.split_whitespace().collect::<Vec<_>>().join(" ")));
            }
        }
    }
    let explain: String = citus_shape::RULES.iter().filter(|(r, _)| rules.contains_key(r))
        .map(|(r, why)| format!("\n{r} ({}): {why}", rules[r])).collect();
    assert!(report.is_empty(), "statements Citus would refuse or run wrongly:{report}\n{explain}");
}
