//! A dry run of a policy against a context: which stages run or skip and
//! who would be asked, with reasons. Writes nothing. For
//! `forbid_repeat_approvers` it assumes the approvers of earlier `all`
//! stages approve (the only ones known for certain to approve).

use crate::error::AweResult;
use crate::logic::LogicCache;
use crate::policy::{Mode, Policy};
use crate::resolve::{resolve_stage_approvers, Assignee, Directory, Excluded, SodInput};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;

#[derive(Debug, Clone, Serialize)]
pub struct StageSimulation {
    pub index: usize,
    pub name: String,
    pub step: usize,
    /// `runs`, `skipped`, `resolving` (asks an http resolver) or `empty`.
    pub outcome: &'static str,
    pub reason: Option<String>,
    pub approvers: Vec<Assignee>,
    pub excluded: Vec<Excluded>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    pub stages: Vec<StageSimulation>,
    /// `approved_at_once` when every stage skips, `blocked` when a stage
    /// would reject for want of approvers, else `needs_review`.
    pub prediction: &'static str,
}

pub fn simulate(policy: &Policy, context: &Value, requester: Option<&str>, dir: &mut dyn Directory, logic: &mut LogicCache, max_depth: usize) -> AweResult<Simulation> {
    let mut earlier: HashSet<String> = HashSet::new();
    let mut stages = Vec::new();
    for (step_no, step) in policy.steps().iter().enumerate() {
        for &i in step {
            let stage = &policy.stages[i];
            let mut sim = StageSimulation { index: i, name: stage.name.clone(), step: step_no, outcome: "runs", reason: None, approvers: Vec::new(), excluded: Vec::new() };
            if let Some(cond) = &stage.skip_if {
                if logic.truthy(cond, context, max_depth)? {
                    sim.outcome = "skipped";
                    sim.reason = Some("skip_if is true".into());
                    stages.push(sim);
                    continue;
                }
            }
            if stage.has_http_rules() {
                sim.outcome = "resolving";
                sim.reason = Some("approvers come from an http resolver, asked by the worker".into());
            }
            let sod = SodInput { requester, earlier_approvers: &earlier };
            let res = resolve_stage_approvers(policy, i, context, &sod, &[], dir, logic, max_depth)?;
            if let (Some(why), "runs") = (res.shortfall(stage.mode), sim.outcome) {
                sim.outcome = "empty";
                sim.reason = Some(format!("{why}: on_empty = {:?}", stage.on_empty).to_lowercase());
            }
            sim.approvers = res.assignees;
            sim.excluded = res.excluded;
            stages.push(sim);
        }
        if policy.forbid_repeat_approvers {
            for s in stages.iter().filter(|s| s.step == step_no && s.outcome == "runs" && policy.stages[s.index].mode == Mode::All) {
                earlier.extend(s.approvers.iter().filter(|a| a.kind == crate::policy::RuleKind::Approver).map(|a| a.principal.clone()));
            }
        }
    }
    let prediction = if stages.iter().all(|s| s.outcome == "skipped") {
        "approved_at_once"
    } else if stages.iter().any(|s| s.outcome == "empty" && policy.stages[s.index].on_empty == crate::policy::OnEmpty::Block) {
        "blocked"
    } else {
        "needs_review"
    };
    Ok(Simulation { stages, prediction })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{parse_policy, PolicyLimits};
    use crate::resolve::tests::MemDir;
    use serde_json::json;

    #[test]
    fn expense_example_by_amount() {
        let mut logic = LogicCache::default();
        let v: Value = serde_yaml::from_str(include_str!("../../examples/expense-report.yaml")).unwrap();
        let p = parse_policy(&v, &PolicyLimits::default(), &mut logic).unwrap();
        let mut dir = MemDir::default();
        dir.groups.insert("/finance/approvers".into(), vec!["f1".into(), "f2".into(), "mia".into(), "sam".into()]);
        let run = |amount: i64, dir: &mut MemDir, logic: &mut LogicCache| {
            simulate(&p, &json!({"amount": amount, "submitter": "sam", "manager": "mia"}), Some("sam"), dir, logic, 64).unwrap()
        };
        let small = run(500, &mut dir, &mut logic);
        assert_eq!(small.prediction, "approved_at_once");
        let big = run(20_000, &mut dir, &mut logic);
        assert_eq!(big.prediction, "needs_review");
        assert_eq!(big.stages[0].approvers[0].principal, "mia");
        let fin: Vec<&str> = big.stages[1].approvers.iter().map(|a| a.principal.as_str()).collect();
        assert_eq!(fin, vec!["f1", "f2"], "the submitter and the approving manager are excluded");
    }
}
