//! The core's `Directory`, answered from the directory tables.

use super::{big, req, run, t};
use awe_core::resolve::Directory;
use awe_core::AweResult;
use pgrx::datum::DatumWithOid;
use pgrx::spi::SpiClient;

pub struct SpiDirectory<'a, 'c> {
    pub client: &'a SpiClient<'c>,
    pub tenant: &'a str,
    pub now: i64,
}

fn names(rows: pgrx::spi::SpiTupleTable<'_>) -> AweResult<Vec<String>> {
    rows.map(|r| req::<String>(&r, 1)).collect()
}

impl Directory for SpiDirectory<'_, '_> {
    fn role_members(&mut self, role: &str) -> AweResult<Vec<String>> {
        names(run(self.client,
            "select g.principal_id from awe.role_grant g join awe.principal p using (tenant_id, principal_id)
              where g.tenant_id = $1 and g.role = $2 and p.active order by g.principal_id",
            &[t(self.tenant), t(role)])?)
    }

    fn group_members(&mut self, group: &str, include_subgroups: bool) -> AweResult<Vec<String>> {
        // '/' < '0' in the C collation, so [group/, group0) is every sub-group.
        names(run(self.client,
            "select distinct m.principal_id from awe.group_member m join awe.principal p using (tenant_id, principal_id)
              where m.tenant_id = $1 and p.active
                and (m.group_path = $2 or $3 and m.group_path >= $2 || '/' and m.group_path < $2 || '0')
              order by m.principal_id",
            &[t(self.tenant), t(group), DatumWithOid::from(include_subgroups)])?)
    }

    fn delegates(&mut self, principals: &[String]) -> AweResult<Vec<(String, String)>> {
        if principals.is_empty() {
            return Ok(Vec::new());
        }
        let rows = run(self.client,
            "select distinct on (d.principal_id) d.principal_id, d.delegate_id from awe.delegation d
              where d.tenant_id = $1 and d.principal_id = any($2) and d.revoked_at is null
                and d.starts_at <= awe._from_us($3) and d.ends_at > awe._from_us($3)
              order by d.principal_id, d.created_at desc",
            &[t(self.tenant), DatumWithOid::from(principals.to_vec()), big(self.now)])?;
        rows.map(|r| Ok((req::<String>(&r, 1)?, req::<String>(&r, 2)?))).collect()
    }
}
