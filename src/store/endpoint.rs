//! Webhook endpoints: which registered endpoint a URL belongs to, and the
//! secrets that sign calls to it.

use super::{arg, required, run, first};
use awe_core::{AweError, AweResult, Code};
use pgrx::spi::SpiClient;

/// The endpoint of this tenant a URL belongs to: the endpoint's URL itself,
/// or it followed by a path, query or fragment. No open relay.
pub fn endpoint_of_url(c: &SpiClient<'_>, tenant: &str, url: &str) -> AweResult<Option<(String, bool)>> {
    let row = first(c,
        "select endpoint_id::text, enabled from awe.endpoint
          where tenant_id = $1
            and ($2 = url or left($2, length(url) + 1) in (url || '/', url || '?', url || '#'))
          order by length(url) desc limit 1",
        &[arg::text(tenant), arg::text(url)])?;
    row.map(|r| Ok((required(&r, 1)?, required(&r, 2)?))).transpose()
}

/// The registered endpoint a callback URL belongs to, enabled or not: an
/// approval never depends on its receiver being healthy, so a disabled
/// endpoint's deliveries are queued and wait until it is enabled again.
pub fn callback_endpoint(c: &SpiClient<'_>, tenant: &str, url: &str) -> AweResult<String> {
    match endpoint_of_url(c, tenant, url)? {
        Some((id, _)) => Ok(id),
        None => Err(AweError::new(Code::CallbackNotAllowed, format!("{url} is not under any endpoint registered for tenant {tenant}"))
            .with_hint("an admin registers it with awe.register_endpoint(url)")),
    }
}

/// Secrets that sign calls to an enabled endpoint, newest first; empty when
/// the URL is under no enabled endpoint.
pub fn signing_secrets(c: &SpiClient<'_>, tenant: &str, url: &str) -> AweResult<Vec<String>> {
    let Some((endpoint, true)) = endpoint_of_url(c, tenant, url)? else { return Ok(Vec::new()) };
    run(c, "select secret from awe.endpoint_secret where tenant_id = $1 and endpoint_id = $2
             and (expires_at is null or expires_at > now()) order by created_at desc",
        &[arg::text(tenant), arg::uuid(&endpoint)])?
        .map(|r| required(&r, 1)).collect()
}
