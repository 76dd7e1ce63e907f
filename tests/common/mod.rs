//! Helpers for end-to-end tests: each test gets its own tenant on the local
//! cluster (`make up`), so tests run in parallel without seeing each other.

pub mod citus_shape;
pub mod cluster;
pub mod http;
pub mod keycloak;
pub mod receiver;
pub mod standin;
pub mod webhook;

use postgres::{Client, NoTls};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};

/// A setting of the local stack: the environment variable if set, else
/// what `make up` wrote to .awe/dev.env.
pub fn dev_env(key: &str) -> String {
    if let Ok(v) = std::env::var(key) {
        return v;
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.awe/dev.env");
    let text = std::fs::read_to_string(path).unwrap_or_else(|_| panic!("no {key} and no {path}: run `make up` first"));
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{key} missing in dev.env")).to_string()
}

/// The cluster URL: $DATABASE_URL, else what `make up` wrote.
pub fn database_url() -> String {
    dev_env("DATABASE_URL")
}

/// The cluster URL with another database name.
fn database_url_for(db: &str) -> String {
    let base = database_url();
    let (head, _) = base.rsplit_once('/').expect("a database URL ends in /name");
    format!("{head}/{db}")
}

pub fn connect() -> Client {
    Client::connect(&database_url(), NoTls).expect("connect to the awe cluster")
}

/// A database of its own on the local cluster (awe not created in it),
/// dropped however the test ends.
pub struct ScratchDatabase {
    pub name: String,
}

impl ScratchDatabase {
    pub fn new(prefix: &str) -> ScratchDatabase {
        let name = unique(prefix).replace('-', "_");
        maintenance().batch_execute(&format!("create database {name}")).unwrap();
        ScratchDatabase { name }
    }

    pub fn url(&self) -> String {
        database_url_for(&self.name)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let _ = maintenance().batch_execute(&format!("drop database if exists {} with (force)", self.name));
    }
}

fn maintenance() -> Client {
    Client::connect(&database_url_for("postgres"), NoTls).expect("connect to database postgres")
}

/// An error as a caller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct DbError {
    pub sqlstate: String,
    pub message: String,
    pub detail: Option<Value>,
    pub hint: Option<String>,
}

impl DbError {
    /// The AWE-… code at the start of the message.
    pub fn code(&self) -> &str {
        self.message.split(':').next().unwrap_or("")
    }
}

pub fn db_error(e: postgres::Error) -> DbError {
    let d = e.as_db_error().unwrap_or_else(|| panic!("not a database error: {e}"));
    DbError {
        sqlstate: d.code().code().to_string(),
        message: d.message().to_string(),
        detail: d.detail().and_then(|t| serde_json::from_str(t).ok()),
        hint: d.hint().map(str::to_string),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique tenant id for this test process.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// A connection acting for one fresh tenant.
pub struct Db {
    pub client: Client,
    pub tenant: String,
}

impl Db {
    pub fn new() -> Db {
        let tenant = unique("t");
        let mut client = connect();
        client.batch_execute(&format!("select awe.create_tenant('{tenant}'); set awe.tenant = '{tenant}'; reset awe.actor;")).unwrap();
        Db { client, tenant }
    }

    /// Another connection for the same tenant (concurrency tests).
    pub fn another(&self) -> Db {
        let mut client = connect();
        client.batch_execute(&format!("set awe.tenant = '{}'", self.tenant)).unwrap();
        Db { client, tenant: self.tenant.clone() }
    }

    pub fn exec(&mut self, sql: &str) {
        self.client.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// Runs a query whose single column is text (cast JSON with ::text) and
    /// returns it parsed as JSON; all parameters are text.
    pub fn try_json(&mut self, sql: &str, params: &[&str]) -> Result<Value, DbError> {
        let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|s| s as &(dyn postgres::types::ToSql + Sync)).collect();
        let row = self.client.query_one(sql, &p).map_err(db_error)?;
        let text: Option<String> = row.get(0);
        Ok(text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t))).unwrap_or(Value::Null))
    }

    pub fn json(&mut self, sql: &str, params: &[&str]) -> Value {
        self.try_json(sql, params).unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }

    /// All rows of a one-column text query.
    pub fn column(&mut self, sql: &str, params: &[&str]) -> Vec<String> {
        let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|s| s as &(dyn postgres::types::ToSql + Sync)).collect();
        self.client.query(sql, &p).unwrap_or_else(|e| panic!("{sql}: {e:?}")).iter().map(|r| r.get::<_, Option<String>>(0).unwrap_or_default()).collect()
    }

    pub fn act_as(&mut self, who: &str) {
        self.exec(&format!("set awe.actor = '{who}'"));
    }

    /// Creates and activates a policy; returns its key.
    pub fn policy(&mut self, def: Value) -> String {
        let key = def["key"].as_str().unwrap().to_string();
        let created = self.json("select awe.create_policy($1::text::jsonb)::text", &[&def.to_string()]);
        let version = created["version"].to_string();
        self.json("select awe.activate_policy($1, $2::text::int)::text", &[&key, &version]);
        key
    }

    /// A one-stage (or given stages) policy with artifact type `doc`.
    pub fn stages(&mut self, stages: Value) -> String {
        let key = unique("p");
        self.policy(json!({"key": key, "artifact_type": "doc", "stages": stages}))
    }

    pub fn try_submit(&mut self, key: &str, context: Value, requester: Option<&str>) -> Result<Value, DbError> {
        let artifact = unique("a");
        self.try_json("select awe.submit($1, 'doc', $2, $3::text::jsonb, $4)::text", &[key, &artifact, &context.to_string(), requester.unwrap_or("")])
    }

    pub fn submit(&mut self, key: &str, context: Value) -> Value {
        self.try_submit(key, context, Some("requester")).unwrap()
    }

    /// The open task of `who` on request `r`.
    pub fn task_of(&mut self, r: &Value, who: &str) -> String {
        let id = r["request_id"].as_str().unwrap().to_string();
        let tasks = self.column("select task_id::text from awe.tasks where request_id = $1::text::uuid and assignee = $2 and status = 'open'", &[&id, who]);
        tasks.into_iter().next().unwrap_or_else(|| panic!("{who} has no open task on {id}"))
    }

    pub fn try_decide(&mut self, task: &str, who: &str, decision: &str) -> Result<Value, DbError> {
        self.act_as(who);
        self.try_json("select awe.decide($1::text::uuid, $2, 'by test')::text", &[task, decision])
    }

    /// `who` decides their open task on request `r`; returns the new status.
    pub fn decide(&mut self, r: &Value, who: &str, decision: &str) -> String {
        let task = self.task_of(r, who);
        let out = self.try_decide(&task, who, decision).unwrap_or_else(|e| panic!("{who} {decision}: {e:?}"));
        out["status"].as_str().unwrap().to_string()
    }

    pub fn status(&mut self, r: &Value) -> String {
        let id = r["request_id"].as_str().unwrap();
        self.column("select status from awe.requests where request_id = $1::text::uuid", &[id]).remove(0)
    }

    /// Open tasks' assignees of a request, sorted.
    pub fn open(&mut self, r: &Value) -> Vec<String> {
        let id = r["request_id"].as_str().unwrap();
        self.column("select assignee from awe.tasks where request_id = $1::text::uuid and status = 'open' order by assignee", &[id])
    }

    /// Event types of a request in order.
    pub fn events(&mut self, r: &Value) -> Vec<String> {
        let id = r["request_id"].as_str().unwrap();
        self.column("select type from awe.timeline($1::text::uuid)", &[id])
    }
}

impl Default for Db {
    fn default() -> Self {
        Db::new()
    }
}

/// The request id of a request summary.
pub fn rid(r: &Value) -> String {
    r["request_id"].as_str().expect("request_id").to_string()
}

/// Every event of a request, oldest first, as JSON rows.
pub fn timeline(db: &mut Db, r: &Value) -> Vec<Value> {
    let v = db.json(
        "select coalesce(json_agg(row_to_json(t) order by t.seq), '[]')::text from awe.timeline($1::text::uuid) t",
        &[&rid(r)],
    );
    v.as_array().unwrap().clone()
}

/// The events of one type.
pub fn events_of(db: &mut Db, r: &Value, kind: &str) -> Vec<Value> {
    timeline(db, r).into_iter().filter(|e| e["type"] == kind).collect()
}

/// A fresh activated policy with the given extra top-level fields.
pub fn policy_with(db: &mut Db, extra: Value, stages: Value) -> String {
    let key = unique("p");
    let mut def = json!({"key": key, "artifact_type": "doc", "stages": stages});
    for (k, v) in extra.as_object().unwrap() {
        def[k] = v.clone();
    }
    db.policy(def)
}

pub fn users(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|n| json!({"type": "user", "user": n})).collect())
}
