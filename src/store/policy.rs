//! Loading policy versions, with a per-backend cache of parsed definitions.
//! Only non-draft versions are cached: their definitions never change.

use super::{arg, first, json_column, required};
use crate::logic::with_logic;
use awe_core::policy::{parse_policy, problems_json, Policy, PolicyLimits};
use awe_core::{AweError, AweResult, Code};
use pgrx::spi::SpiClient;
use super::watch::{self, Watched};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    static CACHE: RefCell<HashMap<CacheKey, Rc<Policy>>> = RefCell::new(HashMap::new());
    /// What a lookup of (tenant, key, version) found — the active version
    /// when `version` is None — as version, status, xmin, and the
    /// generation of awe.policy_version it was read in (store::watch).
    static KNOWN: RefCell<HashMap<(String, String, Option<i32>), (i32, String, String, u64)>> = RefCell::new(HashMap::new());
}

/// Limits for definitions already stored: they were checked when saved, and
/// a later, lower setting must not make in-flight requests unreadable.
const STORED: PolicyLimits = PolicyLimits { max_stages: 100_000, max_rules_per_stage: 100_000, max_logic_depth: 256 };

pub struct LoadedPolicy {
    pub version: i32,
    pub status: String,
    pub policy: Rc<Policy>,
}

type CacheKey = (String, String, i32, String);

fn cached(key: &CacheKey) -> Option<Rc<Policy>> {
    CACHE.with(|c| c.borrow().get(key).cloned())
}

/// The given version, or the active one when `version` is `None`.
pub fn load(client: &SpiClient<'_>, tenant: &str, key: &str, version: Option<i32>) -> AweResult<LoadedPolicy> {
    let generation = watch::generation(client, Watched::PolicyVersions)?;
    let known_key = (tenant.to_string(), key.to_string(), version);
    let known = generation.and_then(|g| KNOWN.with(|a| a.borrow().get(&known_key).cloned()).filter(|k| k.3 == g));
    if let Some((v, status, xmin, _)) = known {
        if status != "draft" {
            if let Some(p) = cached(&(tenant.to_string(), key.to_string(), v, xmin)) {
                return Ok(LoadedPolicy { version: v, status, policy: p });
            }
        }
    }
    let row = match version {
        Some(v) => first(client,
            "select version, status, xmin::text from awe.policy_version where tenant_id = $1 and policy_key = $2 and version = $3",
            &[arg::text(tenant), arg::text(key), arg::int(v)])?,
        None => first(client,
            "select version, status, xmin::text from awe.policy_version where tenant_id = $1 and policy_key = $2 and status = 'active'",
            &[arg::text(tenant), arg::text(key)])?,
    };
    let Some(row) = row else {
        let exists = first(client, "select 1 from awe.policy where tenant_id = $1 and policy_key = $2", &[arg::text(tenant), arg::text(key)])?.is_some();
        return Err(match (exists, version) {
            (false, _) => AweError::new(Code::PolicyNotFound, format!("no policy \"{key}\" in tenant {tenant}")),
            (true, Some(v)) => AweError::new(Code::PolicyNotFound, format!("policy \"{key}\" has no version {v}")),
            (true, None) => AweError::new(Code::PolicyNotActive, format!("policy \"{key}\" has no active version"))
                .with_hint("activate a version with awe.activate_policy(key, version)"),
        });
    };
    let version: i32 = required(&row, 1)?;
    let status: String = required(&row, 2)?;
    // xmin changes whenever the row is rewritten, so a recreated policy with
    // the same key and version never hits a stale entry.
    let xmin: String = required(&row, 3)?;
    if let Some(g) = generation {
        KNOWN.with(|a| {
            let mut a = a.borrow_mut();
            if a.len() > 1000 {
                a.clear();
            }
            a.insert(known_key, (version, status.clone(), xmin.clone(), g));
        });
    }
    let cache_key = (tenant.to_string(), key.to_string(), version, xmin);
    if status != "draft" {
        if let Some(p) = cached(&cache_key) {
            return Ok(LoadedPolicy { version, status, policy: p });
        }
    }
    let def = first(client,
        "select definition::text from awe.policy_version where tenant_id = $1 and policy_key = $2 and version = $3",
        &[arg::text(tenant), arg::text(key), arg::int(version)])?
        .ok_or_else(|| AweError::new(Code::PolicyNotFound, format!("policy \"{key}\" v{version} vanished")))?;
    let def = json_column(&def, 1)?;
    let policy = Rc::new(with_logic(|logic| parse_policy(&def, &STORED, logic)).map_err(|problems| {
        AweError::new(Code::PolicyInvalid, format!("stored policy \"{key}\" v{version} no longer parses")).with_details(problems_json(&problems))
    })?);
    if status != "draft" {
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() > 1000 {
                c.clear();
            }
            c.insert(cache_key, policy.clone());
        });
    }
    Ok(LoadedPolicy { version, status, policy })
}
