//! A structural diff of two policy definitions: what a reviewer of a new
//! policy version needs to see, stage by stage, rather than a text diff
//! that also shows moved lines and reformatting.
//!
//! Stages are matched by name; a stage whose name is not found on the other
//! side but whose position is free there is the same stage renamed (a
//! rename plus a move is seen as one removal and one addition). Stages that
//! kept their name but changed order are "moved": the fewest stages whose
//! moving explains the new order (the rest form the longest run that kept
//! its order). Rules are unioned, so their order does not matter; a rule is
//! matched by its type and principal (user, role, group, url or logic) and
//! compared on its other fields. Definitions are compared as written: a
//! field left at its default and the default written out differ.

use crate::policy_fmt::{flow_yaml, flow_yaml_rule, POLICY_FIELDS, RULE_FIELDS, STAGE_FIELDS};
use serde::Serialize;
use serde_json::{Map, Value};

/// Everything that differs between two definitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyDiff {
    /// Top-level fields other than `exclude` and `stages`, in canonical order.
    pub fields: Vec<FieldChange>,
    /// The policy-wide `exclude` rules.
    pub exclude: Vec<RuleChange>,
    /// Stages that differ, in the new order, then the removed ones.
    pub stages: Vec<StageChange>,
}

/// A field present on one side only, or with different values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    Added,
    Removed,
    /// Same position, new name.
    Renamed,
    /// Same name; moved or changed inside.
    Kept,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageChange {
    pub status: StageStatus,
    /// The stage's name (the new one when renamed).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Positions (from 0, as in `stages[0]`) before and after.
    pub before_index: Option<usize>,
    pub after_index: Option<usize>,
    pub moved: bool,
    pub fields: Vec<FieldChange>,
    pub rules: Vec<RuleChange>,
    pub exclude: Vec<RuleChange>,
    /// The whole stage, for an added or removed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleChangeKind {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleChange {
    pub change: RuleChangeKind,
    /// The rule's identity: `user mia`, `group /finance`, `expression {var: manager}`.
    pub rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// For a changed rule: its fields besides type and principal.
    pub fields: Vec<FieldChange>,
}

impl PolicyDiff {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.exclude.is_empty() && self.stages.is_empty()
    }

    /// The diff for a person: one line per change, stages as JSON paths.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        if self.is_empty() {
            out.push_str("no differences\n");
            return out;
        }
        for f in &self.fields {
            render_field(&mut out, "", f);
        }
        if !self.exclude.is_empty() {
            out.push_str("exclude:\n");
            for r in &self.exclude {
                render_rule(&mut out, "  ", r);
            }
        }
        for s in &self.stages {
            let at = |i: Option<usize>| i.map(|i| format!("stages[{i}]")).unwrap_or_default();
            let name = Value::String(s.name.clone()).to_string();
            match s.status {
                StageStatus::Added => out.push_str(&format!("+ {} {name} (added)\n", at(s.after_index))),
                StageStatus::Removed => out.push_str(&format!("- {} {name} (removed)\n", at(s.before_index))),
                StageStatus::Renamed => {
                    let from = Value::String(s.renamed_from.clone().unwrap_or_default()).to_string();
                    out.push_str(&format!("~ {} {from} renamed to {name}", at(s.after_index)));
                    if s.moved {
                        out.push_str(&format!(", moved from {}", at(s.before_index)));
                    }
                    out.push('\n');
                }
                StageStatus::Kept => {
                    out.push_str(&format!("~ {} {name}", at(s.after_index)));
                    if s.moved {
                        out.push_str(&format!(", moved from {}", at(s.before_index)));
                    }
                    out.push('\n');
                }
            }
            for f in &s.fields {
                render_field(&mut out, "  ", f);
            }
            for r in &s.rules {
                render_rule(&mut out, "  ", r);
            }
            for r in &s.exclude {
                let mut line = String::new();
                render_rule(&mut line, "  ", r);
                out.push_str(&line.replacen(" rule ", " exclude ", 1));
            }
        }
        out
    }
}

fn render_field(out: &mut String, indent: &str, f: &FieldChange) {
    let name = if f.field.is_empty() { "(document)" } else { &f.field };
    match (&f.before, &f.after) {
        (Some(b), Some(a)) => out.push_str(&format!("{indent}~ {name}: {} → {}\n", flow_yaml(b), flow_yaml(a))),
        (None, Some(a)) => out.push_str(&format!("{indent}+ {name}: {}\n", flow_yaml(a))),
        (Some(b), None) => out.push_str(&format!("{indent}- {name}: {}\n", flow_yaml(b))),
        (None, None) => {}
    }
}

fn render_rule(out: &mut String, indent: &str, r: &RuleChange) {
    match r.change {
        RuleChangeKind::Added => out.push_str(&format!("{indent}+ rule {}\n", flow_yaml_rule(r.after.as_ref().unwrap_or(&Value::Null)))),
        RuleChangeKind::Removed => out.push_str(&format!("{indent}- rule {}\n", flow_yaml_rule(r.before.as_ref().unwrap_or(&Value::Null)))),
        RuleChangeKind::Changed => {
            let fields: Vec<String> = r
                .fields
                .iter()
                .map(|f| {
                    let show = |v: &Option<Value>| v.as_ref().map(flow_yaml).unwrap_or_else(|| "(unset)".into());
                    format!("{} {} → {}", f.field, show(&f.before), show(&f.after))
                })
                .collect();
            out.push_str(&format!("{indent}~ rule {}: {}\n", r.rule, fields.join(", ")));
        }
    }
}

/// Compares two definitions (any JSON; nothing needs to be valid).
pub fn diff_policies(before: &Value, after: &Value) -> PolicyDiff {
    let (b, a) = match (before, after) {
        (Value::Object(b), Value::Object(a)) => (b, a),
        _ => {
            let fields = if before == after {
                Vec::new()
            } else {
                vec![FieldChange { field: String::new(), before: Some(before.clone()), after: Some(after.clone()) }]
            };
            return PolicyDiff { fields, exclude: Vec::new(), stages: Vec::new() };
        }
    };
    let stages_are_lists = matches!((b.get("stages"), a.get("stages")), (Some(Value::Array(_)) | None, Some(Value::Array(_)) | None));
    let skip: &[&str] = if stages_are_lists { &["exclude", "stages"] } else { &["exclude"] };
    let fields = field_changes(b, a, POLICY_FIELDS, skip);
    let exclude = rule_changes(b.get("exclude"), a.get("exclude"));
    let stages = if stages_are_lists {
        stage_changes(&stage_list(b), &stage_list(a))
    } else {
        Vec::new()
    };
    PolicyDiff { fields, exclude, stages }
}

/// Changed fields of two mappings, known fields in `order` first, except `skip`.
fn field_changes(b: &Map<String, Value>, a: &Map<String, Value>, order: &[&str], skip: &[&str]) -> Vec<FieldChange> {
    let mut keys: Vec<&str> = order.iter().copied().filter(|k| b.contains_key(*k) || a.contains_key(*k)).collect();
    for k in b.keys().chain(a.keys()) {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .filter(|k| !skip.contains(k))
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| FieldChange { field: k.to_string(), before: b.get(k).cloned(), after: a.get(k).cloned() })
        .collect()
}

fn stage_list(policy: &Map<String, Value>) -> Vec<&Value> {
    policy.get("stages").and_then(Value::as_array).map(|v| v.iter().collect()).unwrap_or_default()
}

fn stage_name(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

fn stage_changes(before: &[&Value], after: &[&Value]) -> Vec<StageChange> {
    // pair[j]: the before-index matched with after-stage j.
    let mut pair: Vec<Option<usize>> = vec![None; after.len()];
    let mut taken = vec![false; before.len()];
    for (j, a) in after.iter().enumerate() {
        if let Some(name) = stage_name(a) {
            if let Some(i) = (0..before.len()).find(|&i| !taken[i] && stage_name(before[i]) == Some(name)) {
                pair[j] = Some(i);
                taken[i] = true;
            }
        }
    }
    let mut renamed = vec![false; after.len()];
    for j in 0..after.len() {
        if pair[j].is_none() && j < before.len() && !taken[j] {
            pair[j] = Some(j);
            taken[j] = true;
            renamed[j] = true;
        }
    }
    let kept_in_order = longest_increasing(&pair);
    let mut out = Vec::new();
    for (j, a) in after.iter().enumerate() {
        let name = stage_name(a).unwrap_or("").to_string();
        let Some(i) = pair[j] else {
            out.push(StageChange {
                status: StageStatus::Added,
                name,
                renamed_from: None,
                before_index: None,
                after_index: Some(j),
                moved: false,
                fields: Vec::new(),
                rules: Vec::new(),
                exclude: Vec::new(),
                definition: Some((*a).clone()),
            });
            continue;
        };
        let b = before[i];
        let empty = Map::new();
        let (bm, am) = (b.as_object().unwrap_or(&empty), a.as_object().unwrap_or(&empty));
        let change = StageChange {
            status: if renamed[j] { StageStatus::Renamed } else { StageStatus::Kept },
            name,
            renamed_from: renamed[j].then(|| stage_name(b).unwrap_or("").to_string()),
            before_index: Some(i),
            after_index: Some(j),
            moved: !kept_in_order.contains(&j),
            fields: if b.is_object() && a.is_object() {
                field_changes(bm, am, STAGE_FIELDS, &["name", "rules", "exclude"])
            } else if *a != b {
                vec![FieldChange { field: String::new(), before: Some(b.clone()), after: Some((*a).clone()) }]
            } else {
                Vec::new()
            },
            rules: rule_changes(bm.get("rules"), am.get("rules")),
            exclude: rule_changes(bm.get("exclude"), am.get("exclude")),
            definition: None,
        };
        let changed = change.status == StageStatus::Renamed
            || change.moved
            || !change.fields.is_empty()
            || !change.rules.is_empty()
            || !change.exclude.is_empty();
        if changed {
            out.push(change);
        }
    }
    for (i, b) in before.iter().enumerate().filter(|(i, _)| !taken[*i]) {
        out.push(StageChange {
            status: StageStatus::Removed,
            name: stage_name(b).unwrap_or("").to_string(),
            renamed_from: None,
            before_index: Some(i),
            after_index: None,
            moved: false,
            fields: Vec::new(),
            rules: Vec::new(),
            exclude: Vec::new(),
            definition: Some((*b).clone()),
        });
    }
    out
}

/// After-positions of the longest run of matched stages whose before-
/// positions increase: those kept their relative order; the others moved.
fn longest_increasing(pair: &[Option<usize>]) -> Vec<usize> {
    let matched: Vec<(usize, usize)> = pair.iter().enumerate().filter_map(|(j, i)| i.map(|i| (j, i))).collect();
    // O(n²) is plenty for at most awe.max_stages stages.
    let mut len = vec![1usize; matched.len()];
    let mut prev = vec![usize::MAX; matched.len()];
    for x in 0..matched.len() {
        for y in 0..x {
            if matched[y].1 < matched[x].1 && len[y] + 1 > len[x] {
                len[x] = len[y] + 1;
                prev[x] = y;
            }
        }
    }
    let Some(mut x) = (0..matched.len()).max_by_key(|&x| (len[x], std::cmp::Reverse(x))) else { return Vec::new() };
    let mut run = vec![matched[x].0];
    while prev[x] != usize::MAX {
        x = prev[x];
        run.push(matched[x].0);
    }
    run
}

/// What makes a rule the same rule on both sides: its type and principal.
fn rule_identity(rule: &Value) -> String {
    let Some(map) = rule.as_object() else { return flow_yaml(rule) };
    let ty = map.get("type").and_then(Value::as_str).unwrap_or("?");
    let principal = ["user", "role", "group", "url", "logic"].iter().find_map(|k| map.get(*k));
    match principal {
        Some(Value::String(s)) => format!("{ty} {s}"),
        Some(other) => format!("{ty} {}", flow_yaml(other)),
        None => ty.to_string(),
    }
}

fn rule_changes(before: Option<&Value>, after: Option<&Value>) -> Vec<RuleChange> {
    let items = |v: Option<&Value>| -> Vec<Value> {
        match v {
            Some(Value::Array(items)) => items.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(other) => vec![other.clone()],
        }
    };
    let (before, after) = (items(before), items(after));
    let mut taken = vec![false; before.len()];
    let mut out = Vec::new();
    for a in &after {
        let id = rule_identity(a);
        let Some(i) = (0..before.len()).find(|&i| !taken[i] && rule_identity(&before[i]) == id) else {
            out.push(RuleChange { change: RuleChangeKind::Added, rule: id, before: None, after: Some(a.clone()), fields: Vec::new() });
            continue;
        };
        taken[i] = true;
        if before[i] != *a {
            let empty = Map::new();
            let fields = field_changes(
                before[i].as_object().unwrap_or(&empty),
                a.as_object().unwrap_or(&empty),
                RULE_FIELDS,
                &["type", "user", "role", "group", "url", "logic"],
            );
            out.push(RuleChange { change: RuleChangeKind::Changed, rule: id, before: Some(before[i].clone()), after: Some(a.clone()), fields });
        }
    }
    for (_, b) in before.iter().enumerate().filter(|(i, _)| !taken[*i]) {
        out.push(RuleChange { change: RuleChangeKind::Removed, rule: rule_identity(b), before: Some(b.clone()), after: None, fields: Vec::new() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{read_document, Format};
    use serde_json::json;

    fn example() -> Value {
        read_document(include_str!("../../examples/expense-report.yaml"), Format::Yaml).unwrap()
    }

    #[test]
    fn identical_policies_have_no_differences() {
        let d = diff_policies(&example(), &example());
        assert!(d.is_empty());
        assert_eq!(d.render_human(), "no differences\n");
    }

    #[test]
    fn top_level_fields() {
        let mut after = example();
        after["max_revisions"] = json!(5);
        after["description"] = json!("Claims");
        after.as_object_mut().unwrap().remove("title");
        let d = diff_policies(&example(), &after);
        let fields: Vec<(&str, Option<&Value>, Option<&Value>)> =
            d.fields.iter().map(|f| (f.field.as_str(), f.before.as_ref(), f.after.as_ref())).collect();
        assert_eq!(
            fields,
            vec![
                ("title", Some(&json!("Expense reports")), None),
                ("description", None, Some(&json!("Claims"))),
                ("max_revisions", Some(&json!(3)), Some(&json!(5))),
            ]
        );
        assert_eq!(d.render_human(), "- title: Expense reports\n+ description: Claims\n~ max_revisions: 3 → 5\n");
    }

    #[test]
    fn stage_fields_and_rules() {
        let mut after = example();
        after["stages"][0]["sla"] = json!("4h");
        after["stages"][0]["rules"] = json!([{"type": "expression", "logic": {"var": "manager"}, "required": true}, {"type": "user", "user": "cfo"}]);
        after["stages"][1]["rules"] = json!([]);
        after["exclude"] = json!([]);
        let d = diff_policies(&example(), &after);
        assert_eq!(d.exclude.len(), 1);
        assert_eq!(d.exclude[0].change, RuleChangeKind::Removed);
        assert_eq!(d.stages.len(), 2);
        let manager = &d.stages[0];
        assert_eq!((manager.status, manager.name.as_str(), manager.moved), (StageStatus::Kept, "Manager", false));
        assert_eq!(manager.fields, vec![FieldChange { field: "sla".into(), before: Some(json!("8h")), after: Some(json!("4h")) }]);
        assert_eq!(manager.rules.iter().map(|r| (r.change, r.rule.as_str())).collect::<Vec<_>>(), vec![
            (RuleChangeKind::Changed, "expression {var: manager}"),
            (RuleChangeKind::Added, "user cfo"),
        ]);
        assert_eq!(manager.rules[0].fields, vec![FieldChange { field: "required".into(), before: None, after: Some(json!(true)) }]);
        assert_eq!(
            d.render_human(),
            "exclude:\n  - rule {type: expression, logic: {var: submitter}}\n\
             ~ stages[0] \"Manager\"\n  ~ sla: 8h → 4h\n  ~ rule expression {var: manager}: required (unset) → true\n  + rule {type: user, user: cfo}\n\
             ~ stages[1] \"Dual control\"\n  - rule {type: group, group: /finance/approvers}\n"
        );
    }

    #[test]
    fn rule_order_does_not_matter() {
        let before = json!({"stages": [{"name": "s", "rules": [{"type": "user", "user": "a"}, {"type": "role", "role": "r"}]}]});
        let after = json!({"stages": [{"name": "s", "rules": [{"type": "role", "role": "r"}, {"type": "user", "user": "a"}]}]});
        assert!(diff_policies(&before, &after).is_empty());
    }

    fn stages(names: &[&str]) -> Value {
        json!({"stages": names.iter().map(|n| json!({"name": n, "rules": [{"type": "user", "user": "u"}]})).collect::<Vec<_>>()})
    }

    /// (status, name, before index, after index, moved) of each stage change.
    type StageSummary = (StageStatus, String, Option<usize>, Option<usize>, bool);

    fn summary(d: &PolicyDiff) -> Vec<StageSummary> {
        d.stages.iter().map(|s| (s.status, s.name.clone(), s.before_index, s.after_index, s.moved)).collect()
    }

    #[test]
    fn stages_added_removed_renamed_and_moved() {
        use StageStatus::*;
        let d = diff_policies(&stages(&["a", "b", "c"]), &stages(&["a", "c", "d", "e"]));
        // Names match first ("c" moves up a place, keeping its order): "d"
        // finds no free old position to be a rename of, so "b" is removed.
        assert_eq!(summary(&d), vec![
            (Added, "d".into(), None, Some(2), false),
            (Added, "e".into(), None, Some(3), false),
            (Removed, "b".into(), Some(1), None, false),
        ]);
        let d = diff_policies(&stages(&["a", "b", "c"]), &stages(&["a", "B", "c"]));
        assert_eq!(summary(&d), vec![(Renamed, "B".into(), Some(1), Some(1), false)]);
        assert_eq!(d.stages[0].renamed_from.as_deref(), Some("b"));
        assert_eq!(d.render_human(), "~ stages[1] \"b\" renamed to \"B\"\n");
        let d = diff_policies(&stages(&["a", "b", "c", "d"]), &stages(&["b", "c", "d", "a"]));
        assert_eq!(summary(&d), vec![(Kept, "a".into(), Some(0), Some(3), true)], "one move explains it");
        assert_eq!(d.render_human(), "~ stages[3] \"a\", moved from stages[0]\n");
        let d = diff_policies(&stages(&["a", "b"]), &stages(&["b", "a", "c"]));
        assert_eq!(summary(&d).len(), 2);
        assert_eq!(d.stages[1].status, Added);
    }

    #[test]
    fn added_and_removed_stages_carry_their_definition() {
        let d = diff_policies(&stages(&["a"]), &stages(&["a", "b"]));
        assert_eq!(d.stages[0].definition.as_ref().unwrap()["name"], "b");
        assert_eq!(d.render_human(), "+ stages[1] \"b\" (added)\n");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["stages"][0]["status"], "added");
        assert_eq!(json["stages"][0]["after_index"], 1);
    }

    #[test]
    fn anything_that_is_not_a_policy_still_diffs() {
        let d = diff_policies(&json!([1]), &json!("x"));
        assert_eq!(d.render_human(), "~ (document): [1] → x\n");
        let d = diff_policies(&json!({"stages": "none"}), &json!({"stages": [1]}));
        assert_eq!(d.fields.len(), 1);
        assert_eq!(d.fields[0].field, "stages");
    }
}
