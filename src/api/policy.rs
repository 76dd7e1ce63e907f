//! Policy administration: validate, create, new version, edit a draft,
//! import from YAML. Activation is plain SQL (sql/03_policy.sql).

use crate::fmgr::{bad_input, jsonb, Args};
use crate::logic::with_logic;
use crate::session::session;
use crate::settings;
use crate::store::{arg, first, required};
use awe_core::document::{read_document, Format};
use awe_core::policy::{parse_policy, problems_json, Policy, PolicyLimits};
use awe_core::{AweError, AweResult, Code};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use serde_json::{json, Value};

crate::entry!(pg_finfo_awe_validate_policy, awe_validate_policy, validate_policy);
crate::entry!(pg_finfo_awe_create_policy, awe_create_policy, create_policy);
crate::entry!(pg_finfo_awe_create_policy_version, awe_create_policy_version, create_policy_version);
crate::entry!(pg_finfo_awe_update_policy_draft, awe_update_policy_draft, update_policy_draft);
crate::entry!(pg_finfo_awe_import_policy, awe_import_policy, import_policy);
crate::entry!(pg_finfo_awe_policy_to_json, awe_policy_to_json, policy_to_json);

fn limits() -> PolicyLimits {
    PolicyLimits {
        max_stages: settings::usize_of(&settings::MAX_STAGES),
        max_rules_per_stage: settings::usize_of(&settings::MAX_RULES_PER_STAGE),
        max_logic_depth: settings::usize_of(&settings::MAX_LOGIC_DEPTH),
    }
}

/// Parses with the current limits, or fails with every problem listed.
fn checked(def: &Value) -> AweResult<Policy> {
    with_logic(|l| parse_policy(def, &limits(), l)).map_err(|problems| {
        let n = problems.len();
        let first = problems.first().map(|p| format!("{}: {}", if p.path.is_empty() { "(root)" } else { &p.path }, p.message)).unwrap_or_default();
        AweError::new(Code::PolicyInvalid, format!("the policy definition has {n} problem(s), first: {first}"))
            .with_details(problems_json(&problems))
            .with_hint("details.problems lists every problem with its JSON path")
    })
}

fn definition(a: &Args, n: usize) -> AweResult<Value> {
    a.json(n, "definition")?.ok_or_else(|| bad_input("definition is required"))
}

/// `{valid, problems}` without saving anything.
fn validate_policy(a: &Args) -> AweResult<pgrx::JsonB> {
    let def = definition(a, 0)?;
    Ok(jsonb(match with_logic(|l| parse_policy(&def, &limits(), l)) {
        Ok(p) => json!({"valid": true, "problems": [], "key": p.key, "stages": p.stages.len()}),
        Err(problems) => json!({"valid": false, "problems": problems}),
    }))
}

fn create_policy(a: &Args) -> AweResult<pgrx::JsonB> {
    let def = definition(a, 0)?;
    let p = checked(&def)?;
    Spi::connect_mut(|c| insert_version(c, &p, def, true)).map(jsonb)
}

fn create_policy_version(a: &Args) -> AweResult<pgrx::JsonB> {
    let def = definition(a, 0)?;
    let p = checked(&def)?;
    Spi::connect_mut(|c| insert_version(c, &p, def, false)).map(jsonb)
}

/// Stores a definition as a new draft: version 1 of a new policy, or the
/// next version of an existing one.
fn insert_version(c: &SpiClient<'_>, p: &Policy, def: Value, new_policy: bool) -> AweResult<Value> {
    let s = session(c)?;
    let existing = first(c, "select artifact_type from awe.policy where tenant_id = $1 and policy_key = $2 for update",
        &[arg::text(&s.tenant), arg::text(&p.key)])?;
    match (&existing, new_policy) {
        (Some(_), true) => return Err(AweError::new(Code::PolicyExists, format!("policy \"{}\" already exists", p.key))
            .with_hint("add a version with awe.create_policy_version(definition)")),
        (None, false) => return Err(AweError::new(Code::PolicyNotFound, format!("no policy \"{}\" to add a version to", p.key))),
        (Some(row), false) => {
            let artifact_type: String = required(row, 1)?;
            if artifact_type != p.artifact_type {
                return Err(bad_input(format!("policy \"{}\" is for artifact_type \"{artifact_type}\", not \"{}\"", p.key, p.artifact_type)));
            }
        }
        (None, true) => {
            first(c, "insert into awe.policy (tenant_id, policy_key, artifact_type) values ($1, $2, $3) returning 1",
                &[arg::text(&s.tenant), arg::text(&p.key), arg::text(&p.artifact_type)])?;
        }
    }
    let row = first(c,
        "insert into awe.policy_version (tenant_id, policy_key, version, definition, created_by)
         select $1, $2, coalesce(max(version), 0) + 1, $3, $4 from awe.policy_version where tenant_id = $1 and policy_key = $2
         returning version",
        &[arg::text(&s.tenant), arg::text(&p.key), arg::jsonb(def), arg::text(&s.actor)])?
        .ok_or_else(|| AweError::new(Code::Internal, "insert returned nothing"))?;
    let version: i32 = required(&row, 1)?;
    crate::store::watch::changed(c, "awe.policy_version")?;
    Ok(json!({"policy_key": p.key, "version": version, "status": "draft"}))
}

fn update_policy_draft(a: &Args) -> AweResult<pgrx::JsonB> {
    let key = a.req_text(0, "policy_key")?;
    let version = a.int(1).ok_or_else(|| bad_input("version is required"))?;
    let def = definition(a, 2)?;
    let p = checked(&def)?;
    if p.key != key {
        return Err(bad_input(format!("the definition's key \"{}\" is not \"{key}\"; the key cannot change", p.key)));
    }
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let row = first(c,
            "select v.status, p.artifact_type
               from awe.policy_version v join awe.policy p on p.tenant_id = v.tenant_id and p.policy_key = v.policy_key
              where v.tenant_id = $1 and v.policy_key = $2 and v.version = $3 for update of v",
            &[arg::text(&s.tenant), arg::text(&key), arg::int(version)])?
            .ok_or_else(|| AweError::new(Code::PolicyNotFound, format!("policy \"{key}\" has no version {version}")))?;
        let status: String = required(&row, 1)?;
        let artifact_type: String = required(&row, 2)?;
        if status != "draft" {
            return Err(AweError::new(Code::PolicyNotDraft, format!("\"{key}\" v{version} is {status}; only drafts can be edited"))
                .with_hint("create a new version with awe.create_policy_version(definition)"));
        }
        if artifact_type != p.artifact_type {
            return Err(bad_input(format!("policy \"{key}\" is for artifact_type \"{artifact_type}\"")));
        }
        first(c, "update awe.policy_version set definition = $4, updated_at = now()
                   where tenant_id = $1 and policy_key = $2 and version = $3 returning 1",
            &[arg::text(&s.tenant), arg::text(&key), arg::int(version), arg::jsonb(def)])?;
        crate::store::watch::changed(c, "awe.policy_version")?;
        Ok(jsonb(json!({"policy_key": key, "version": version, "status": "draft"})))
    })
}

/// YAML or JSON text to a definition, strictly (awe_core::document): a
/// repeated key, a key that is not a string, an alias bomb or nesting past
/// 128 levels is refused with its JSON path and line, never silently
/// resolved.
fn parse_document(a: &Args) -> AweResult<Value> {
    let doc = a.req_text(0, "document")?;
    let format = match a.text(1).as_deref().unwrap_or("yaml") {
        "yaml" => Format::Yaml,
        "json" => Format::Json,
        other => return Err(bad_input(format!("format must be yaml or json, not {other}"))),
    };
    read_document(&doc, format).map_err(|e| {
        let code = match e.code {
            "too_large" | "too_deep" | "alias_limit" => Code::LimitExceeded,
            _ => Code::BadInput,
        };
        let at = e.line.map(|l| format!(" (line {l}{})", e.column.map(|c| format!(", column {c}")).unwrap_or_default())).unwrap_or_default();
        let path = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path) };
        AweError::new(code, format!("{path}{}{at}", e.message))
            .with_details(json!({"path": e.path, "line": e.line, "column": e.column, "problem": e.code}))
    })
}

fn policy_to_json(a: &Args) -> AweResult<pgrx::JsonB> {
    parse_document(a).map(jsonb)
}

/// Imports a document as a draft: a new policy, or a new version of an
/// existing key.
fn import_policy(a: &Args) -> AweResult<pgrx::JsonB> {
    let def = parse_document(a)?;
    let p = checked(&def)?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        let exists = first(c, "select 1 from awe.policy where tenant_id = $1 and policy_key = $2", &[arg::text(&s.tenant), arg::text(&p.key)])?.is_some();
        insert_version(c, &p, def, !exists)
    })
    .map(jsonb)
}
