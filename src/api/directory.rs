//! The directory from SQL, beyond the hand-edit functions of
//! sql/02_directory.sql: registering a directory source, importing a whole
//! directory, and a leaver's open task (called by awe._handle_leavers).

use crate::fmgr::{bad_input, jsonb, Args};
use crate::operate::operate;
use crate::session::{now_us, session, Session};
use crate::store::directory_sync::{apply, has_source, load_managed};
use crate::store::request::Target;
use crate::store::{arg, endpoint, first, run};
use awe_core::directory_sync::{diff, too_many_deactivations, Snapshot};
use awe_core::keycloak_options::{options_json, KeycloakSource, DEFAULT_MAX_DEACTIVATIONS};
use awe_core::model::SYSTEM_ACTOR;
use awe_core::policy::Problem;
use awe_core::{AweError, AweResult, Code};
use pgrx::prelude::*;
use serde_json::{json, Value};

crate::entry!(pg_finfo_awe_set_directory_source, awe_set_directory_source, set_directory_source);
crate::entry!(pg_finfo_awe_import_directory, awe_import_directory, import_directory);
crate::entry!(pg_finfo_awe_task_assignee_inactive, awe_task_assignee_inactive, task_assignee_inactive);

fn problems_error(what: &str, problems: &[Problem]) -> AweError {
    let first = problems.first().map(|p| format!("{}: {}", if p.path.is_empty() { "(root)" } else { &p.path }, p.message)).unwrap_or_default();
    AweError::new(Code::BadInput, format!("the {what} has {} problem(s), first: {first}", problems.len()))
        .with_details(json!({"problems": problems}))
        .with_hint("details.problems lists every problem with its JSON path")
}

/// `awe.set_directory_source(kind, base_url, realm, client_id,
/// client_secret, options, alert_url)`: registers or replaces the tenant's
/// source; the first sync is due at once.
fn set_directory_source(a: &Args) -> AweResult<pgrx::JsonB> {
    let kind = a.req_text(0, "kind")?;
    if kind != "keycloak" {
        return Err(bad_input(format!("kind must be \"keycloak\", got \"{kind}\"")));
    }
    let config = json!({
        "base_url": a.text(1), "realm": a.text(2), "client_id": a.text(3), "client_secret": a.text(4),
        "options": a.json(5, "options")?.unwrap_or(Value::Null),
    });
    let source = KeycloakSource::parse(&config).map_err(|p| problems_error("directory source", &p))?;
    let alert_url = a.text(6);
    Spi::connect_mut(|c| {
        let s = session(c)?;
        if let Some(url) = &alert_url {
            crate::api::check_text("alert_url", url)?;
            endpoint::callback_endpoint(c, &s.tenant, url)?;
        }
        let o = &source.options;
        run(c, "insert into awe.directory_source as d (tenant_id, kind, base_url, realm, client_id, options, sync_interval, alert_url,
                                                       created_at, updated_at, next_sync_at)
                values ($1, 'keycloak', $2, $3, $4, $5, make_interval(secs => $6), $7, $8, $8, $8)
                on conflict (tenant_id) do update
                   set base_url = excluded.base_url, realm = excluded.realm, client_id = excluded.client_id, options = excluded.options,
                       sync_interval = excluded.sync_interval, alert_url = excluded.alert_url, updated_at = excluded.updated_at,
                       next_sync_at = excluded.next_sync_at, force_next = false, consecutive_failures = 0, alerted = false",
            &[arg::text(&s.tenant), arg::text(&source.base_url), arg::text(&source.realm), arg::text(&source.client_id),
              arg::jsonb(options_json(o)), arg::float(o.interval_secs as f64), arg::opt_text(alert_url.as_deref()), arg::timestamptz(s.now)])?;
        run(c, "insert into awe.directory_source_secret as x (tenant_id, client_secret, set_at) values ($1, $2, $3)
                on conflict (tenant_id) do update set client_secret = excluded.client_secret, set_at = excluded.set_at",
            &[arg::text(&s.tenant), arg::text(&source.client_secret), arg::timestamptz(s.now)])?;
        crate::worker::wake::wake_on_commit();
        status(c, &s.tenant)
    })
}

fn status(c: &pgrx::spi::SpiClient<'_>, tenant: &str) -> AweResult<pgrx::JsonB> {
    let row = first(c, "select (to_jsonb(s) - 'tenant_id')::text from awe.directory_sync_status s where s.tenant_id = $1", &[arg::text(tenant)])?
        .ok_or_else(|| AweError::new(Code::Internal, "the directory source just written is missing"))?;
    Ok(jsonb(crate::store::json_column(&row, 1)?))
}

/// `awe.import_directory(document, force)`: the document becomes the
/// tenant's directory (what imports manage of it): the difference is applied
/// like a sync. Returns what changed.
fn import_directory(a: &Args) -> AweResult<pgrx::JsonB> {
    let doc = a.json(0, "document")?.ok_or_else(|| bad_input("document is required"))?;
    let force = a.bool(1).unwrap_or(false);
    let desired = Snapshot::from_import(&doc).map_err(|p| problems_error("directory document", &p))?;
    Spi::connect_mut(|c| {
        let s = session(c)?;
        if has_source(c, &s.tenant)? {
            return Err(AweError::new(Code::DirectoryManaged, format!("tenant {}'s directory comes from its directory source", s.tenant))
                .with_hint("awe.remove_directory_source() first, or change the directory in the identity provider"));
        }
        // One import at a time per tenant: two concurrent imports would each
        // diff against the same old state.
        run(c, "select pg_advisory_xact_lock(hashtextextended('awe.import_directory:' || $1, 0))", &[arg::text(&s.tenant)])?;
        let current = load_managed(c, &s.tenant)?;
        let d = diff(&current, &desired);
        if !force {
            if let Some(why) = too_many_deactivations(&current, &d, DEFAULT_MAX_DEACTIVATIONS) {
                return Err(AweError::new(Code::BadInput, why.replace("awe.sync_directory(force => true)", "awe.import_directory(document, force => true)"))
                    .with_details(json!({"counts": d.counts()})));
            }
        }
        apply(c, &s.tenant, &d, s.now)?;
        Ok(jsonb(json!({
            "changed": !d.is_empty(), "counts": d.counts(),
            "principals": desired.principals.len(), "roles": desired.roles.len(), "groups": desired.groups.len(),
        })))
    })
}

/// `awe._task_assignee_inactive(tenant, task_id)`: one open task of a
/// principal who became inactive (awe._handle_leavers).
fn task_assignee_inactive(a: &Args) -> AweResult<bool> {
    let tenant = a.req_text(0, "tenant_id")?;
    let task_id = a.uuid(1, "task_id")?;
    Spi::connect_mut(|c| {
        let s = Session { tenant, actor: SYSTEM_ACTOR.into(), now: now_us(c)? };
        let (noted, _, _) = operate(c, &s, Target::TaskOf(&task_id), |m, _| m.assignee_inactive(&task_id))?;
        Ok(noted)
    })
}
