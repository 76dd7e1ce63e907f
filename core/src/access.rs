//! Who may do what to a request through the REST API: one table, read by
//! the API wrappers (through `awe._require_request_access`) and printed in
//! docs/rest.md, where a test holds the two in step.
//!
//! In-database callers (roles granted `awe_user`) are the tenant's own
//! application and act for their users: they are not limited by this table
//! beyond their tenant (see docs/security.md).

use serde::Serialize;

/// The REST role a token carries (PostgREST switches to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read-only dashboards and auditors.
    Viewer,
    /// A person: approves, and follows their own requests.
    Approver,
    /// A calling service: submits requests for its users.
    Caller,
    /// The tenant's administrator.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Approver, Role::Caller, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "awe_viewer",
            Role::Approver => "awe_approver",
            Role::Caller => "awe_caller",
            Role::Admin => "awe_admin",
        }
    }
}

/// Something done to an existing request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestOp {
    /// get_request, timeline, verify_timeline.
    Read,
    /// A comment on the request (task comments follow the task's actions).
    Comment,
    Resubmit,
    Withdraw,
    Cancel,
}

impl RequestOp {
    pub const ALL: [RequestOp; 5] = [RequestOp::Read, RequestOp::Comment, RequestOp::Resubmit, RequestOp::Withdraw, RequestOp::Cancel];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestOp::Read => "read",
            RequestOp::Comment => "comment",
            RequestOp::Resubmit => "resubmit",
            RequestOp::Withdraw => "withdraw",
            RequestOp::Cancel => "cancel",
        }
    }

    pub fn parse(s: &str) -> Option<RequestOp> {
        RequestOp::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// How the actor stands to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relation {
    /// The actor is the request's requester.
    pub requester: bool,
    /// The actor submitted the request (`created_by`).
    pub submitter: bool,
    /// The actor has or had a task on it, or may act on an open task as a
    /// delegate of its assignee.
    pub involved: bool,
}

/// Whether `role` may do `op` to a request the actor stands to as `rel`.
pub fn may(role: Role, op: RequestOp, rel: Relation) -> bool {
    use RequestOp::*;
    let own = rel.requester || rel.submitter;
    match (role, op) {
        // An admin reads, comments on and cancels any request; resubmitting
        // and withdrawing speak for the requester, so only they (or the
        // service that submitted for them) do that.
        (Role::Admin, Resubmit | Withdraw) => own,
        (Role::Admin, _) => true,
        (Role::Viewer, Read) => true,
        (Role::Viewer, _) => false,
        (Role::Caller, Read | Comment) => true,
        (Role::Caller, Resubmit | Withdraw | Cancel) => own,
        (Role::Approver, Read | Comment) => rel.involved || rel.requester,
        (Role::Approver, Resubmit | Withdraw) => rel.requester,
        (Role::Approver, Cancel) => false,
    }
}

/// The table as documentation: one line per operation, one column per role,
/// each cell saying when it is allowed.
pub fn table_markdown() -> String {
    let cell = |role: Role, op: RequestOp| -> &'static str {
        let any = may(role, op, Relation { requester: true, submitter: true, involved: true });
        let always = may(role, op, Relation::default());
        let by = |rel: Relation| may(role, op, rel);
        if always {
            "yes"
        } else if !any {
            "no"
        } else if by(Relation { involved: true, ..Default::default() }) && by(Relation { requester: true, ..Default::default() }) {
            "if involved or requester"
        } else if by(Relation { requester: true, ..Default::default() }) && by(Relation { submitter: true, ..Default::default() }) {
            "own (requester or submitter)"
        } else if by(Relation { requester: true, ..Default::default() }) {
            "if requester"
        } else {
            "restricted"
        }
    };
    let mut out = String::from("| request operation | awe_viewer | awe_approver | awe_caller | awe_admin |\n| --- | --- | --- | --- | --- |\n");
    for op in RequestOp::ALL {
        out.push_str(&format!("| {} |", op.as_str()));
        for role in Role::ALL {
            out.push_str(&format!(" {} |", cell(role, op)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_and_services_see_only_their_own() {
        let stranger = Relation::default();
        let requester = Relation { requester: true, ..Default::default() };
        let delegate = Relation { involved: true, ..Default::default() };
        let submitter = Relation { submitter: true, ..Default::default() };
        assert!(!may(Role::Approver, RequestOp::Read, stranger));
        assert!(may(Role::Approver, RequestOp::Read, delegate));
        assert!(may(Role::Approver, RequestOp::Comment, delegate));
        assert!(may(Role::Approver, RequestOp::Withdraw, requester));
        assert!(!may(Role::Approver, RequestOp::Withdraw, delegate));
        assert!(!may(Role::Caller, RequestOp::Cancel, stranger));
        assert!(may(Role::Caller, RequestOp::Cancel, submitter));
        assert!(may(Role::Caller, RequestOp::Resubmit, requester));
        assert!(!may(Role::Viewer, RequestOp::Comment, requester));
        assert!([RequestOp::Read, RequestOp::Comment, RequestOp::Cancel].iter().all(|op| may(Role::Admin, *op, stranger)));
        assert!(!may(Role::Admin, RequestOp::Withdraw, stranger), "withdrawing speaks for the requester");
    }

    /// docs/rest.md shows this table; keep it in step.
    #[test]
    fn the_table_is_documented() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rest.md")).unwrap_or_default();
        assert!(doc.contains(&table_markdown()), "docs/rest.md must contain:\n{}", table_markdown());
    }
}
