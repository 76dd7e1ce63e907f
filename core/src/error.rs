//! The `AWE-…` error catalogue. One place lists every code with the SQLSTATE
//! it is raised with; PostgREST turns the SQLSTATE into the HTTP status
//! (`PTxyz` → xyz, class 22 → 400), so SQL and REST callers see the same code.

use serde_json::Value;
use std::fmt;

macro_rules! catalogue {
    ($( $variant:ident => ($code:literal, $sqlstate:literal, $http:literal, $meaning:literal), )*) => {
        /// Every error awe raises. The string codes are a stable public contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $( $variant, )* }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];
            pub fn as_str(self) -> &'static str { match self { $( Code::$variant => $code, )* } }
            pub fn sqlstate(self) -> &'static str { match self { $( Code::$variant => $sqlstate, )* } }
            pub fn http_status(self) -> u16 { match self { $( Code::$variant => $http, )* } }
            pub fn meaning(self) -> &'static str { match self { $( Code::$variant => $meaning, )* } }
            /// The code named by its `AWE-…` string.
            pub fn parse(code: &str) -> Option<Code> { match code { $( $code => Some(Code::$variant), )* _ => None } }
        }
    };
}

catalogue! {
    BadInput            => ("AWE-BAD-INPUT", "22023", 400, "an argument is missing, malformed or of the wrong type"),
    LimitExceeded       => ("AWE-LIMIT-EXCEEDED", "22023", 400, "an input is larger than the awe.* limit that bounds it"),
    ContextInvalid      => ("AWE-CONTEXT-INVALID", "22023", 400, "the request context does not match the policy's context_schema"),
    RequesterRequired   => ("AWE-REQUESTER-REQUIRED", "22023", 400, "the policy forbids self-approval, so a requester must be given"),
    LogicInvalid        => ("AWE-LOGIC-INVALID", "22023", 400, "a JSONLogic rule cannot be compiled or evaluated"),
    CallbackNotAllowed  => ("AWE-CALLBACK-NOT-ALLOWED", "22023", 400, "the callback URL is not one of the tenant's registered endpoints"),
    Unauthenticated     => ("AWE-UNAUTHENTICATED", "PT401", 401, "no identity: the token or role does not name a principal"),
    TenantUnknown       => ("AWE-TENANT-UNKNOWN", "PT403", 403, "this session is not mapped to a tenant (or not to the one it asked for)"),
    Forbidden           => ("AWE-FORBIDDEN", "PT403", 403, "the caller may not perform this operation"),
    NotAssignee         => ("AWE-NOT-ASSIGNEE", "PT403", 403, "only the task's assignee (or an active delegate) may act on it"),
    PolicyNotFound      => ("AWE-POLICY-NOT-FOUND", "PT404", 404, "no policy (or policy version) with that key in this tenant"),
    RequestNotFound     => ("AWE-REQUEST-NOT-FOUND", "PT404", 404, "no request with that id in this tenant"),
    TaskNotFound        => ("AWE-TASK-NOT-FOUND", "PT404", 404, "no task with that id in this tenant"),
    NotFound            => ("AWE-NOT-FOUND", "PT404", 404, "the named directory entry, delegation or endpoint does not exist"),
    PolicyExists        => ("AWE-POLICY-EXISTS", "PT409", 409, "a policy with that key already exists"),
    PolicyNotDraft      => ("AWE-POLICY-NOT-DRAFT", "PT409", 409, "only draft versions can be edited, activated or deleted"),
    PolicyNotActive     => ("AWE-POLICY-NOT-ACTIVE", "PT409", 409, "the policy has no active version to submit against"),
    RequestState        => ("AWE-REQUEST-STATE", "PT409", 409, "the request's status does not allow this operation"),
    TaskClosed          => ("AWE-TASK-CLOSED", "PT409", 409, "the task is already decided or closed; decisions are final"),
    ActionNotAllowed    => ("AWE-ACTION-NOT-ALLOWED", "PT409", 409, "this action is not among the task's available actions"),
    AssigneeNotAllowed  => ("AWE-ASSIGNEE-NOT-ALLOWED", "PT409", 409, "the principal may not vote on this request (segregation of duties), so the task cannot go to them"),
    MaxRevisions        => ("AWE-MAX-REVISIONS", "PT409", 409, "the request already used the policy's max_revisions"),
    IdempotencyConflict => ("AWE-IDEMPOTENCY-CONFLICT", "PT409", 409, "the idempotency key was used before with a different body"),
    DirectoryManaged    => ("AWE-DIRECTORY-MANAGED", "PT409", 409, "the directory entry comes from the tenant's directory source; change it there"),
    PolicyInvalid       => ("AWE-POLICY-INVALID", "PT422", 422, "the policy definition is invalid; details list every problem with its path"),
    DecisionInvalid     => ("AWE-DECISION-INVALID", "PT422", 422, "the decision lacks the comment or data the stage requires, or fails its decision_check; details list every problem with its path"),
    Busy                => ("AWE-BUSY", "PT503", 503, "a lock could not be taken in time; retry"),
    VersionMismatch     => ("AWE-VERSION-MISMATCH", "PT503", 503, "the database's awe SQL is not the loaded library's version: run ALTER EXTENSION awe UPDATE"),
    CitusRequired       => ("AWE-CITUS-REQUIRED", "55000", 500, "awe.distribute() needs Citus: the citus extension in this database, run on its coordinator"),
    Cancelled           => ("AWE-CANCELLED", "57014", 500, "the statement was cancelled (statement_timeout or a cancel request) while awe was evaluating a rule"),
    Internal            => ("AWE-INTERNAL", "XX000", 500, "a bug in awe; the transaction was rolled back"),
}

/// An error with everything a person needs to act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct AweError {
    pub code: Code,
    pub message: String,
    /// Structured details (e.g. the list of policy problems), sent as JSON.
    pub details: Option<Value>,
    pub hint: Option<String>,
}

impl AweError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        AweError { code, message: message.into(), details: None, hint: None }
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// The text Postgres carries as the error message: the code first, so
    /// that logs, psql and PostgREST bodies all show it.
    pub fn pg_message(&self) -> String {
        format!("{}: {}", self.code.as_str(), self.message)
    }
    /// The DETAIL field: a JSON object with the code and any details.
    pub fn pg_detail(&self) -> String {
        let mut obj = serde_json::Map::new();
        obj.insert("code".into(), Value::String(self.code.as_str().into()));
        if let Some(d) = &self.details {
            obj.insert("details".into(), d.clone());
        }
        Value::Object(obj).to_string()
    }
}

impl fmt::Display for AweError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pg_message())
    }
}

impl std::error::Error for AweError {}

pub type AweResult<T> = Result<T, AweError>;

/// Shorthand used throughout the core: `fail(Code::X, "why")?`.
pub fn err<T>(code: Code, message: impl Into<String>) -> AweResult<T> {
    Err(AweError::new(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_sqlstates_map_to_their_http_status() {
        let mut seen = HashSet::new();
        assert_eq!(Code::parse("AWE-NOPE"), None);
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(*c));
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            assert!(c.as_str().starts_with("AWE-"));
            let s = c.sqlstate();
            assert_eq!(s.len(), 5);
            if let Some(status) = s.strip_prefix("PT") {
                assert_eq!(status.parse::<u16>().unwrap(), c.http_status(), "{}", c.as_str());
            }
        }
    }

    #[test]
    fn message_and_detail_carry_the_code() {
        let e = AweError::new(Code::TaskClosed, "task t1 is approved")
            .with_details(serde_json::json!({"task_id": "t1"}));
        assert_eq!(e.pg_message(), "AWE-TASK-CLOSED: task t1 is approved");
        let d: Value = serde_json::from_str(&e.pg_detail()).unwrap();
        assert_eq!(d["code"], "AWE-TASK-CLOSED");
        assert_eq!(d["details"]["task_id"], "t1");
    }
}

#[cfg(test)]
mod doc_tests {
    use super::Code;

    /// docs/errors.md is the catalogue users read; keep it in step.
    #[test]
    fn every_code_is_documented_with_its_sqlstate() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/errors.md")).unwrap();
        for c in Code::ALL {
            let row = format!("| `{}` | `{}` | {} |", c.as_str(), c.sqlstate(), c.http_status());
            assert!(doc.contains(&row), "docs/errors.md lacks {row}");
        }
    }
}
