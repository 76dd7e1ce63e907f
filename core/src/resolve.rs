//! Who must approve a stage: rules unioned and de-duplicated, then
//! segregation of duties, then delegation, in that order.

use crate::error::{AweError, AweResult, Code};
use crate::logic::LogicCache;
use crate::policy::{Policy, Rule, RuleKind, RuleSource};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;

/// The directory as the engine needs it. The shell answers from the
/// `principal`/`role_grant`/`group_member`/`delegation` tables; tests use
/// an in-memory one.
pub trait Directory {
    fn role_members(&mut self, role: &str) -> AweResult<Vec<String>>;
    fn group_members(&mut self, group: &str, include_subgroups: bool) -> AweResult<Vec<String>>;
    /// Active delegations (principal → delegate) for these principals now.
    fn delegates(&mut self, principals: &[String]) -> AweResult<Vec<(String, String)>>;
    /// Those of `principals` the directory knows as inactive (people who
    /// left or were disabled in the identity provider). A principal the
    /// directory does not know is not inactive: `user` rules may name anyone.
    fn inactive(&mut self, principals: &[String]) -> AweResult<Vec<String>> {
        let _ = principals;
        Ok(Vec::new())
    }
}

/// How far a delegation chain is followed before the last reached principal
/// is used; bounds work and makes cycles harmless.
pub const MAX_DELEGATION_DEPTH: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignee {
    pub principal: String,
    pub delegated_from: Option<String>,
    pub kind: RuleKind,
    pub required: bool,
}

/// Someone a rule resolved who will not get a task, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Excluded {
    pub principal: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Resolution {
    pub assignees: Vec<Assignee>,
    pub excluded: Vec<Excluded>,
}

impl Resolution {
    pub fn approver_count(&self) -> usize {
        self.assignees.iter().filter(|a| a.kind == RuleKind::Approver).count()
    }

    /// Why these approvers cannot carry a stage of `mode`, if they cannot:
    /// nobody resolved, or fewer optional approvers than `n` (required ones
    /// are counted apart). The engine and `simulate` both ask this.
    pub fn shortfall(&self, mode: crate::policy::Mode) -> Option<String> {
        let approvers = self.approver_count();
        let optional = self.assignees.iter().filter(|a| a.kind == RuleKind::Approver && !a.required).count();
        let needed = match mode {
            crate::policy::Mode::Any { n } if optional > 0 => n as usize,
            _ => 1,
        };
        if approvers == 0 {
            Some("no approver resolved".to_string())
        } else if optional > 0 && optional < needed {
            Some(format!("only {optional} approver(s) resolved, {needed} needed"))
        } else {
            None
        }
    }
}

/// Inputs besides the directory that segregation of duties needs.
pub struct SodInput<'a> {
    pub requester: Option<&'a str>,
    /// Principals who approved a different stage of this request.
    pub earlier_approvers: &'a HashSet<String>,
}

/// Resolves a rule to principals. `http` rules resolve to nothing here: the
/// worker calls the endpoint and passes the answer as `http_principals`.
pub fn resolve_rule(
    rule: &Rule,
    context: &Value,
    dir: &mut dyn Directory,
    logic: &mut LogicCache,
    max_logic_depth: usize,
) -> AweResult<Vec<String>> {
    Ok(match &rule.source {
        RuleSource::User { user } => vec![user.clone()],
        RuleSource::Role { role } => dir.role_members(role)?,
        RuleSource::Group { group, include_subgroups } => dir.group_members(group, *include_subgroups)?,
        RuleSource::Expression { logic: rule_logic } => principals_from_value(logic.eval(rule_logic, context, max_logic_depth)?)?,
        RuleSource::Http { .. } => Vec::new(),
    })
}

/// An expression (or http resolver) may answer a principal, a list of them,
/// or null/empty for nobody. Anything else is the policy author's bug.
pub fn principals_from_value(v: Value) -> AweResult<Vec<String>> {
    let bad = |v: &Value| AweError::new(Code::LogicInvalid, format!("approver expression must return a principal id or a list of them, got {v}"));
    match v {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => items
            .into_iter()
            .filter(|i| !i.is_null())
            .map(|i| match i {
                Value::String(s) if !s.is_empty() => Ok(s),
                other => Err(bad(&other)),
            })
            .collect(),
        other => Err(bad(&other)),
    }
}

/// Resolves one stage's assignees. `http_principals` holds what the stage's
/// http rules answered (empty when it has none).
pub fn resolve_stage_approvers(
    policy: &Policy,
    stage_index: usize,
    context: &Value,
    sod: &SodInput<'_>,
    http_principals: &[String],
    dir: &mut dyn Directory,
    logic: &mut LogicCache,
    max_logic_depth: usize,
) -> AweResult<Resolution> {
    let stage = &policy.stages[stage_index];
    let mut out = Resolution::default();
    let mut seen: HashSet<String> = HashSet::new();

    // 1. Union of rules; an approver rule wins over an observer rule for the
    //    same principal, and `required` sticks if any rule says so.
    let mut candidates: Vec<Assignee> = Vec::new();
    for rule in &stage.rules {
        let principals = match rule.source {
            RuleSource::Http { .. } => http_principals.to_vec(),
            _ => resolve_rule(rule, context, dir, logic, max_logic_depth)?,
        };
        for p in principals {
            if let Some(existing) = candidates.iter_mut().find(|a| a.principal == p) {
                if rule.kind == RuleKind::Approver {
                    existing.kind = RuleKind::Approver;
                }
                existing.required |= rule.required;
            } else {
                candidates.push(Assignee { principal: p, delegated_from: None, kind: rule.kind, required: rule.required });
            }
        }
    }

    // 2. Segregation of duties.
    let mut excluded_set: HashSet<String> = HashSet::new();
    for rule in policy.exclude.iter().chain(&stage.exclude) {
        excluded_set.extend(resolve_rule(rule, context, dir, logic, max_logic_depth)?);
    }
    let forbidden = |p: &str| -> Option<&'static str> {
        if p == crate::model::SYSTEM_ACTOR {
            // An expression or a resolver that answers the engine's own
            // name would make a task nobody can decide.
            Some("reserved")
        } else if policy.forbid_self_approval && sod.requester == Some(p) {
            Some("self_approval")
        } else if policy.forbid_repeat_approvers && sod.earlier_approvers.contains(p) {
            Some("repeat_approver")
        } else if excluded_set.contains(p) {
            Some("excluded")
        } else {
            None
        }
    };
    // Nobody inactive gets a task, approver or observer.
    let inactive: HashSet<String> = dir.inactive(&candidates.iter().map(|a| a.principal.clone()).collect::<Vec<_>>())?.into_iter().collect();
    let mut kept = Vec::new();
    for a in candidates {
        if inactive.contains(&a.principal) {
            out.excluded.push(Excluded { principal: a.principal, reason: "inactive" });
            continue;
        }
        // Observers never approve, so SoD does not remove them (but nobody
        // is the reserved `system`).
        match (a.kind, forbidden(&a.principal)) {
            (_, Some("reserved")) | (RuleKind::Approver, Some(_)) => {
                let reason = forbidden(&a.principal).unwrap_or("reserved");
                out.excluded.push(Excluded { principal: a.principal, reason })
            }
            _ => kept.push(a),
        }
    }

    // 3. Delegation, following chains; a delegate who is forbidden by SoD is
    //    not used (the task stays with the original principal).
    let chains = delegation_targets(&kept.iter().map(|a| a.principal.clone()).collect::<Vec<_>>(), dir)?;
    for mut a in kept {
        if let Some(target) = chains.iter().find(|(from, _)| *from == a.principal).map(|(_, to)| to.clone()) {
            if a.kind == RuleKind::Observer || forbidden(&target).is_none() {
                a.delegated_from = Some(std::mem::replace(&mut a.principal, target));
            }
        }
        // Two principals delegating to one person must not give that person two votes.
        if seen.insert(a.principal.clone()) {
            out.assignees.push(a);
        } else if let Some(existing) = out.assignees.iter_mut().find(|e| e.principal == a.principal) {
            existing.required |= a.required;
            if a.kind == RuleKind::Approver {
                existing.kind = RuleKind::Approver;
            }
        }
    }
    Ok(out)
}

/// Follows delegation chains for each principal, level by level (one
/// directory call per level). Returns (principal, final delegate) for those
/// who are delegated. A cycle leaves the principal with no delegation.
pub fn delegation_targets(principals: &[String], dir: &mut dyn Directory) -> AweResult<Vec<(String, String)>> {
    let mut chains: Vec<(String, Vec<String>)> = principals.iter().map(|p| (p.clone(), vec![p.clone()])).collect();
    let mut frontier: Vec<String> = principals.to_vec();
    for _ in 0..MAX_DELEGATION_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let edges = dir.delegates(&frontier)?;
        let mut next = Vec::new();
        for (_, chain) in chains.iter_mut() {
            let Some(last) = chain.last().cloned() else { continue };
            if !frontier.contains(&last) {
                continue;
            }
            if let Some((_, to)) = edges.iter().find(|(from, _)| *from == last) {
                if chain.contains(to) {
                    chain.clear(); // a cycle: nobody in it is reachable, keep the original
                } else {
                    chain.push(to.clone());
                    next.push(to.clone());
                }
            }
        }
        next.sort();
        next.dedup();
        frontier = next;
    }
    Ok(chains
        .into_iter()
        .filter(|(_, c)| c.len() > 1)
        .map(|(p, c)| (p, c.last().unwrap().clone()))
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::{parse_policy, PolicyLimits};
    use serde_json::json;
    use std::collections::HashMap;

    #[derive(Default)]
    pub struct MemDir {
        pub roles: HashMap<String, Vec<String>>,
        pub groups: HashMap<String, Vec<String>>,
        pub delegations: HashMap<String, String>,
        pub inactive: Vec<String>,
    }

    impl Directory for MemDir {
        fn role_members(&mut self, role: &str) -> AweResult<Vec<String>> {
            Ok(self.roles.get(role).cloned().unwrap_or_default())
        }
        fn group_members(&mut self, group: &str, sub: bool) -> AweResult<Vec<String>> {
            let mut out = Vec::new();
            for (g, members) in &self.groups {
                if g == group || (sub && g.starts_with(&format!("{group}/"))) {
                    out.extend(members.iter().cloned());
                }
            }
            out.sort();
            Ok(out)
        }
        fn delegates(&mut self, principals: &[String]) -> AweResult<Vec<(String, String)>> {
            Ok(principals.iter().filter_map(|p| self.delegations.get(p).map(|d| (p.clone(), d.clone()))).collect())
        }
        fn inactive(&mut self, principals: &[String]) -> AweResult<Vec<String>> {
            Ok(principals.iter().filter(|p| self.inactive.contains(p)).cloned().collect())
        }
    }

    fn policy(v: Value) -> Policy {
        parse_policy(&v, &PolicyLimits::default(), &mut LogicCache::default()).unwrap()
    }

    fn resolve(p: &Policy, ctx: Value, requester: Option<&str>, earlier: &[&str], dir: &mut MemDir) -> Resolution {
        let earlier: HashSet<String> = earlier.iter().map(|s| s.to_string()).collect();
        let sod = SodInput { requester, earlier_approvers: &earlier };
        resolve_stage_approvers(p, 0, &ctx, &sod, &[], dir, &mut LogicCache::default(), 64).unwrap()
    }

    fn names(r: &Resolution) -> Vec<&str> {
        r.assignees.iter().map(|a| a.principal.as_str()).collect()
    }

    #[test]
    fn rule_types_union_and_deduplicate() {
        let mut dir = MemDir::default();
        dir.roles.insert("fin".into(), vec!["bob".into(), "carol".into()]);
        dir.groups.insert("/legal".into(), vec!["dave".into()]);
        dir.groups.insert("/legal/eu".into(), vec!["erin".into(), "bob".into()]);
        let p = policy(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "rules": [
            {"type": "user", "user": "alice"}, {"type": "role", "role": "fin"},
            {"type": "group", "group": "/legal", "include_subgroups": true},
            {"type": "expression", "logic": {"var": "owners"}}]}]}));
        let r = resolve(&p, json!({"owners": ["zed", "alice"]}), None, &[], &mut dir);
        assert_eq!(names(&r), vec!["alice", "bob", "carol", "dave", "erin", "zed"]);
    }

    #[test]
    fn segregation_of_duties_then_delegation() {
        let mut dir = MemDir::default();
        dir.roles.insert("fin".into(), vec!["req".into(), "mgr".into(), "x".into(), "y".into(), "z".into()]);
        dir.delegations.insert("x".into(), "req".into()); // delegate is the requester: not used
        dir.delegations.insert("y".into(), "w".into());
        let p = policy(json!({"key": "k", "artifact_type": "d", "forbid_self_approval": true, "forbid_repeat_approvers": true,
            "exclude": [{"type": "expression", "logic": {"var": "conflicted"}}],
            "stages": [{"name": "s", "rules": [{"type": "role", "role": "fin"}]}]}));
        let r = resolve(&p, json!({"conflicted": "z"}), Some("req"), &["mgr"], &mut dir);
        assert_eq!(names(&r), vec!["x", "w"]);
        assert_eq!(r.assignees[1].delegated_from.as_deref(), Some("y"));
        let reasons: Vec<_> = r.excluded.iter().map(|e| (e.principal.as_str(), e.reason)).collect();
        assert_eq!(reasons, vec![("req", "self_approval"), ("mgr", "repeat_approver"), ("z", "excluded")]);
    }

    #[test]
    fn inactive_principals_get_no_task_from_any_rule() {
        let mut dir = MemDir::default();
        dir.roles.insert("fin".into(), vec!["ana".into(), "ben".into()]);
        dir.inactive = vec!["ben".into(), "left".into(), "watcher".into()];
        let p = policy(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "rules": [
            {"type": "role", "role": "fin"}, {"type": "user", "user": "left"},
            {"type": "user", "user": "watcher", "kind": "observer"}, {"type": "user", "user": "unknown"}]}]}));
        let r = resolve(&p, json!({}), None, &[], &mut dir);
        // A principal the directory does not know stays eligible.
        assert_eq!(names(&r), vec!["ana", "unknown"]);
        let reasons: Vec<_> = r.excluded.iter().map(|e| (e.principal.as_str(), e.reason)).collect();
        assert_eq!(reasons, vec![("ben", "inactive"), ("left", "inactive"), ("watcher", "inactive")]);
    }

    #[test]
    fn delegation_chains_are_followed_and_cycles_are_safe() {
        let mut dir = MemDir::default();
        for (a, b) in [("a", "b"), ("b", "c"), ("p", "q"), ("q", "p"), ("m1", "m2"), ("m2", "m3"), ("m3", "m4"), ("m4", "m5"), ("m5", "m6"), ("m6", "m7")] {
            dir.delegations.insert(a.into(), b.into());
        }
        let t = delegation_targets(&["a".into(), "p".into(), "m1".into(), "solo".into()], &mut dir).unwrap();
        assert_eq!(t, vec![("a".to_string(), "c".to_string()), ("m1".to_string(), "m6".to_string())]);
    }

    #[test]
    fn two_delegators_to_one_delegate_give_one_task() {
        let mut dir = MemDir::default();
        dir.delegations.insert("a".into(), "d".into());
        dir.delegations.insert("b".into(), "d".into());
        let p = policy(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "rules": [
            {"type": "user", "user": "a"}, {"type": "user", "user": "b", "required": true}]}]}));
        let r = resolve(&p, json!({}), None, &[], &mut dir);
        assert_eq!(names(&r), vec!["d"]);
        assert!(r.assignees[0].required);
    }

    #[test]
    fn observers_are_kept_and_lose_to_approver_rules() {
        let mut dir = MemDir::default();
        let p = policy(json!({"key": "k", "artifact_type": "d", "forbid_self_approval": true, "stages": [{"name": "s", "rules": [
            {"type": "user", "user": "a"}, {"type": "user", "user": "req", "kind": "observer"},
            {"type": "user", "user": "a", "kind": "observer"}]}]}));
        let r = resolve(&p, json!({}), Some("req"), &[], &mut dir);
        assert_eq!(r.assignees.iter().map(|a| (a.principal.as_str(), a.kind)).collect::<Vec<_>>(),
            vec![("a", RuleKind::Approver), ("req", RuleKind::Observer)]);
    }

    #[test]
    fn expressions_must_return_principals() {
        assert_eq!(principals_from_value(json!(null)).unwrap(), Vec::<String>::new());
        assert_eq!(principals_from_value(json!(["a", null, "b"])).unwrap(), vec!["a", "b"]);
        assert_eq!(principals_from_value(json!(5)).unwrap_err().code, Code::LogicInvalid);
        assert_eq!(principals_from_value(json!([{"a": 1}])).unwrap_err().code, Code::LogicInvalid);
    }
}
