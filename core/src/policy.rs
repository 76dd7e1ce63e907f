//! Policy definitions: the typed model and a strict validator.
//!
//! Validation walks the JSON by hand instead of `serde(deny_unknown_fields)`
//! because a person fixing a definition wants every problem at once, each
//! with its JSON path, not the first one serde trips over.

use crate::context_schema;
pub use crate::model::RuleKind;
pub use crate::problem::Problem;
use crate::problem::unknown_field_message;
use crate::strict_json::join;
use crate::duration::parse_duration;
use crate::logic::{json_depth, LogicCache};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Limits that bound a definition; the shell fills them from `awe.*` settings.
#[derive(Debug, Clone, Copy)]
pub struct PolicyLimits {
    pub max_stages: usize,
    pub max_rules_per_stage: usize,
    pub max_logic_depth: usize,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        PolicyLimits { max_stages: 20, max_rules_per_stage: 50, max_logic_depth: crate::logic::DEFAULT_MAX_DEPTH }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    pub key: String,
    pub artifact_type: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub context_schema: Option<Value>,
    pub forbid_self_approval: bool,
    pub forbid_repeat_approvers: bool,
    pub max_revisions: u32,
    /// Seconds after submission at which an undecided request expires.
    pub expires_after: Option<i64>,
    pub exclude: Vec<Rule>,
    pub stages: Vec<Stage>,
    /// A logic-less template over the context and the request, rendered at
    /// submit and resubmit (core/src/summary.rs).
    pub summary: Option<String>,
    /// A language model that summarizes each request, from the worker.
    pub summarizer: Option<Summarizer>,
}

/// Which model endpoint summarizes a policy's requests, with what, and
/// which context fields it may see (nothing else leaves the database).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summarizer {
    /// A model endpoint of the tenant (awe.register_model_endpoint).
    pub endpoint: String,
    pub model: String,
    pub fields: Vec<String>,
    pub instructions: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    pub name: String,
    pub mode: Mode,
    pub veto: bool,
    pub rules: Vec<Rule>,
    pub exclude: Vec<Rule>,
    pub skip_if: Option<Value>,
    pub on_empty: OnEmpty,
    pub parallel_group: Option<String>,
    /// Seconds from task creation to its due time.
    pub sla: Option<i64>,
    pub on_breach: Option<Breach>,
    /// Decisions that must come with a comment.
    pub require_comment: Vec<crate::model::Decision>,
    /// What an approver adds to an approval (`data`), in the context_schema
    /// subset; `None`: an approval takes no data.
    pub decision_schema: Option<Value>,
    /// JSONLogic over `{context, decision, comment}` an approval must pass.
    pub decision_check: Option<Value>,
    /// What the approver is told when decision_check fails.
    pub decision_check_message: Option<String>,
    pub on_resolver_failure: OnResolverFailure,
}

/// What a stage does when its http approver resolver fails for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnResolverFailure {
    /// The request fails (`request.failed`).
    Fail,
    /// The stage is skipped (`stage.skipped`).
    Skip,
    /// The stage's `on_breach` escalation rules supply its approvers.
    Escalate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    All,
    /// `any`, `any-N` and `quorum` all land here.
    Any { n: u32 },
    Percentage { p: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnEmpty {
    Block,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub kind: RuleKind,
    pub required: bool,
    pub source: RuleSource,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RuleSource {
    User { user: String },
    Role { role: String },
    Group { group: String, include_subgroups: bool },
    Expression { logic: Value },
    Http { url: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breach {
    pub action: BreachAction,
    /// `remind`: seconds between reminders, and how many at most.
    pub every: Option<i64>,
    pub max: u32,
    /// `escalate`: who is added.
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachAction {
    Notify,
    Remind,
    Escalate,
    AutoApprove,
    AutoReject,
}

impl Policy {
    /// Stages grouped into steps: consecutive stages sharing a
    /// `parallel_group` run together; every other stage is a step alone.
    pub fn steps(&self) -> Vec<Vec<usize>> {
        let mut steps: Vec<Vec<usize>> = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            let joins = match (&stage.parallel_group, steps.last()) {
                (Some(g), Some(last)) => self.stages[last[0]].parallel_group.as_deref() == Some(g.as_str()),
                _ => false,
            };
            if joins {
                steps.last_mut().unwrap().push(i);
            } else {
                steps.push(vec![i]);
            }
        }
        steps
    }

    /// The step (index into `steps()`) a stage belongs to.
    pub fn step_of(&self, stage: usize) -> usize {
        self.steps().iter().position(|s| s.contains(&stage)).unwrap_or(0)
    }
}

impl Stage {
    pub fn has_http_rules(&self) -> bool {
        self.rules.iter().any(|r| matches!(r.source, RuleSource::Http { .. }))
    }
}

/// Parses and validates a definition. `Err` lists every problem found.
pub fn parse_policy(def: &Value, limits: &PolicyLimits, logic: &mut LogicCache) -> Result<Policy, Vec<Problem>> {
    let mut r = Reader { problems: Vec::new(), limits: *limits, logic };
    let policy = r.policy(def);
    match policy {
        Some(p) if r.problems.is_empty() => Ok(p),
        _ => Err(r.problems),
    }
}

/// The problems as the JSON carried in an error's details.
pub fn problems_json(problems: &[Problem]) -> Value {
    json!({ "problems": problems })
}

struct Reader<'a> {
    problems: Vec<Problem>,
    limits: PolicyLimits,
    logic: &'a mut LogicCache,
}

use crate::context_schema::kind as type_name;

/// Names allowed for keys, artifact types, roles: readable and URL-safe.
fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/'))
}

impl Reader<'_> {
    fn problem(&mut self, path: impl Into<String>, code: &'static str, message: impl Into<String>) {
        self.problems.push(Problem { path: path.into(), code, message: message.into() });
    }

    /// Checks an object's keys; returns it if it is an object.
    fn object<'v>(&mut self, path: &str, v: &'v Value, allowed: &[&str]) -> Option<&'v Map<String, Value>> {
        let Value::Object(map) = v else {
            self.problem(path, "type", format!("must be an object, got {}", type_name(v)));
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.problem(join(path, key), "unknown_field", unknown_field_message(key, allowed));
            }
        }
        Some(map)
    }

    fn string(&mut self, map: &Map<String, Value>, path: &str, key: &str, required: bool) -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.problem(join(path, key), "required", "is required");
                }
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.problem(join(path, key), "value", "must not be empty");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.problem(join(path, key), "type", format!("must be a string, got {}", type_name(other)));
                None
            }
        }
    }

    fn identifier(&mut self, map: &Map<String, Value>, path: &str, key: &str, required: bool) -> Option<String> {
        let s = self.string(map, path, key, required)?;
        if !is_identifier(&s) {
            self.problem(join(path, key), "value", "must be 1-128 characters of letters, digits and . _ - : /");
            return None;
        }
        Some(s)
    }

    fn boolean(&mut self, map: &Map<String, Value>, path: &str, key: &str, default: bool) -> bool {
        match map.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.problem(join(path, key), "type", format!("must be true or false, got {}", type_name(other)));
                default
            }
        }
    }

    fn integer(&mut self, map: &Map<String, Value>, path: &str, key: &str, min: u64, max: u64) -> Option<u32> {
        let v = map.get(key)?;
        match v.as_u64() {
            Some(n) if n >= min && n <= max => Some(n as u32),
            Some(_) | None if v.is_number() => {
                self.problem(join(path, key), "range", format!("must be an integer from {min} to {max}"));
                None
            }
            _ => {
                self.problem(join(path, key), "type", format!("must be an integer, got {}", type_name(v)));
                None
            }
        }
    }

    fn duration(&mut self, map: &Map<String, Value>, path: &str, key: &str) -> Option<i64> {
        let s = self.string(map, path, key, false)?;
        match parse_duration(&s) {
            Ok(secs) => Some(secs),
            Err(msg) => {
                self.problem(join(path, key), "duration", msg);
                None
            }
        }
    }

    /// A JSONLogic rule a policy runs. It must be an operation: an object
    /// with exactly one key, a known operator (`{"<=": [{"var": "amount"},
    /// 1000]}`). Anything else is JSONLogic data, not logic: a string, a
    /// number, an array or a many-key object evaluates to itself and is
    /// truthy, so `skip_if: "total < 500"` would skip the stage for
    /// everyone. Conditions (`skip_if`) may also be `true` or `false`.
    fn logic(&mut self, path: &str, rule: &Value, condition: bool) {
        match rule {
            Value::Object(m) if m.len() == 1 => {}
            Value::Bool(_) if condition => {}
            other => {
                let expected = if condition { "a JSONLogic operation such as {\"<=\": [{\"var\": \"amount\"}, 1000]}, or true/false" }
                               else { "a JSONLogic operation such as {\"var\": \"manager\"}" };
                let got = match other {
                    Value::Object(m) if m.is_empty() => "an empty object".to_string(),
                    Value::Object(m) => format!("an object with {} keys (JSONLogic reads it as data, which is always true)", m.len()),
                    Value::String(_) => "a string (JSONLogic reads it as data, which is true unless empty)".to_string(),
                    v => type_name(v).to_string(),
                };
                self.problem(path, "logic", format!("must be {expected}, not {got}"));
                return;
            }
        }
        let depth = json_depth(rule);
        if depth > self.limits.max_logic_depth {
            self.problem(path, "limit", format!("nested {depth} levels deep; the limit (awe.max_logic_depth) is {}", self.limits.max_logic_depth));
            return;
        }
        if let Err(e) = self.logic.compile(rule, self.limits.max_logic_depth) {
            self.problem(path, "logic", e.message);
        }
    }

    fn policy(&mut self, def: &Value) -> Option<Policy> {
        const FIELDS: &[&str] = &[
            "key", "artifact_type", "title", "description", "context_schema", "forbid_self_approval",
            "forbid_repeat_approvers", "max_revisions", "expires_after", "exclude", "stages", "summary", "summarizer",
        ];
        let map = self.object("", def, FIELDS)?;
        let key = self.identifier(map, "", "key", true);
        let artifact_type = self.identifier(map, "", "artifact_type", true);
        let title = self.string(map, "", "title", false);
        let description = self.string(map, "", "description", false);
        let context_schema = map.get("context_schema").filter(|v| !v.is_null()).cloned();
        if let Some(schema) = &context_schema {
            for p in context_schema::check_schema(schema) {
                self.problem(join("context_schema", &p.path), "schema", p.message);
            }
        }
        let forbid_self_approval = self.boolean(map, "", "forbid_self_approval", false);
        let forbid_repeat_approvers = self.boolean(map, "", "forbid_repeat_approvers", false);
        let max_revisions = self.integer(map, "", "max_revisions", 0, 1000).unwrap_or(DEFAULT_MAX_REVISIONS);
        let expires_after = self.duration(map, "", "expires_after");
        let exclude = self.rule_list(map, "", "exclude", false);
        let stages = self.stages(map.get("stages"));
        let summary = match map.get("summary") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => {
                for p in crate::summary::check_template(t, context_schema.as_ref()) {
                    self.problems.push(p);
                }
                Some(t.clone())
            }
            Some(other) => {
                self.problem("summary", "type", format!("must be a template string such as \"{{{{requester}}}} asks {{{{amount}}}}\", got {}", type_name(other)));
                None
            }
        };
        let summarizer = map.get("summarizer").filter(|v| !v.is_null()).and_then(|v| self.summarizer(v, context_schema.as_ref()));
        Some(Policy {
            key: key?,
            artifact_type: artifact_type?,
            title,
            description,
            context_schema,
            forbid_self_approval,
            forbid_repeat_approvers,
            max_revisions,
            expires_after,
            exclude,
            stages: stages?,
            summary,
            summarizer,
        })
    }

    fn summarizer(&mut self, v: &Value, context_schema: Option<&Value>) -> Option<Summarizer> {
        let map = self.object("summarizer", v, &["endpoint", "model", "fields", "instructions"])?;
        let endpoint = self.string(map, "summarizer", "endpoint", true);
        if let Some(e) = &endpoint {
            if e.len() > 64 || !e.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
                self.problem("summarizer.endpoint", "value", "must name a model endpoint: 1-64 letters, digits, dots, dashes or underscores");
            }
        }
        let model = self.string(map, "summarizer", "model", true);
        if model.as_ref().is_some_and(|m| m.len() > 200) {
            self.problem("summarizer.model", "limit", "is longer than 200 characters");
        }
        let fields: Vec<String> = match map.get("fields") {
            Some(Value::Array(items)) => items.iter().enumerate().filter_map(|(i, f)| match f {
                Value::String(s) => Some(s.clone()),
                other => {
                    self.problem(format!("summarizer.fields[{i}]"), "type", format!("must be a string, got {}", type_name(other)));
                    None
                }
            }).collect(),
            None | Some(Value::Null) => {
                self.problem("summarizer.fields", "required", "is required: the context fields the model may see");
                return None;
            }
            Some(other) => {
                self.problem("summarizer.fields", "type", format!("must be an array of field names, got {}", type_name(other)));
                return None;
            }
        };
        for p in crate::summarizer::check_fields(&fields, context_schema) {
            self.problems.push(p);
        }
        let instructions = self.string(map, "summarizer", "instructions", false);
        if instructions.as_ref().is_some_and(|t| t.chars().count() > 2000) {
            self.problem("summarizer.instructions", "limit", "is longer than 2000 characters");
        }
        Some(Summarizer { endpoint: endpoint?, model: model?, fields, instructions })
    }

    fn stages(&mut self, v: Option<&Value>) -> Option<Vec<Stage>> {
        let Some(Value::Array(items)) = v else {
            match v {
                None | Some(Value::Null) => self.problem("stages", "required", "is required: at least one stage"),
                Some(other) => self.problem("stages", "type", format!("must be an array, got {}", type_name(other))),
            }
            return None;
        };
        if items.is_empty() {
            self.problem("stages", "value", "must have at least one stage");
        }
        if items.len() > self.limits.max_stages {
            self.problem("stages", "limit", format!("has {} stages; the limit (awe.max_stages) is {}", items.len(), self.limits.max_stages));
            return None;
        }
        let stages: Vec<Option<Stage>> = items.iter().enumerate().map(|(i, s)| self.stage(&format!("stages[{i}]"), s)).collect();
        let mut names = HashSet::new();
        let mut closed_groups: HashSet<String> = HashSet::new();
        let mut prev_group: Option<String> = None;
        // Names are checked on the raw JSON so a stage with other problems
        // still reports a duplicate name.
        for (i, item) in items.iter().enumerate() {
            if let Some(name) = item.get("name").and_then(Value::as_str) {
                if !names.insert(name) {
                    self.problem(format!("stages[{i}].name"), "duplicate", format!("\"{name}\" is used by an earlier stage; names must be unique"));
                }
            }
        }
        for (i, s) in stages.iter().enumerate() {
            let Some(s) = s else { continue };
            if let Some(g) = &s.parallel_group {
                if prev_group.as_deref() != Some(g.as_str()) && closed_groups.contains(g) {
                    self.problem(format!("stages[{i}].parallel_group"), "value", format!("stages of group \"{g}\" must be next to each other"));
                }
            }
            if let Some(p) = prev_group.take() {
                if s.parallel_group.as_deref() != Some(p.as_str()) {
                    closed_groups.insert(p);
                }
            }
            prev_group = s.parallel_group.clone();
        }
        stages.into_iter().collect()
    }

    fn stage(&mut self, path: &str, v: &Value) -> Option<Stage> {
        const FIELDS: &[&str] = &[
            "name", "mode", "n", "p", "veto", "rules", "exclude", "skip_if", "on_empty", "parallel_group", "sla", "on_breach",
            "require_comment", "decision_schema", "decision_check", "decision_check_message", "on_resolver_failure",
        ];
        let map = self.object(path, v, FIELDS)?;
        let name = self.string(map, path, "name", true);
        let rules = self.rule_list(map, path, "rules", true);
        let exclude = self.rule_list(map, path, "exclude", false);
        let mode = self.mode(map, path, &rules);
        let veto = self.boolean(map, path, "veto", true);
        let skip_if = map.get("skip_if").cloned();
        if let Some(rule) = &skip_if {
            self.logic(&join(path, "skip_if"), rule, true);
        }
        let on_empty = match map.get("on_empty") {
            None => OnEmpty::Block,
            Some(v) if v == "block" => OnEmpty::Block,
            Some(v) if v == "skip" => OnEmpty::Skip,
            Some(_) => {
                self.problem(join(path, "on_empty"), "value", "must be \"block\" or \"skip\"");
                OnEmpty::Block
            }
        };
        let parallel_group = self.string(map, path, "parallel_group", false);
        let sla = self.duration(map, path, "sla");
        let on_breach = map.get("on_breach").and_then(|b| self.breach(&join(path, "on_breach"), b));
        if on_breach.is_some() && sla.is_none() {
            self.problem(join(path, "on_breach"), "value", "needs an \"sla\" on the same stage to know when the task is overdue");
        }
        if rules.iter().filter(|r| matches!(r.source, RuleSource::Http { .. })).count() > 1 {
            self.problem(join(path, "rules"), "value", "at most one http rule per stage (one resolver call answers for the stage)");
        }
        if !rules.is_empty() && rules.iter().all(|r| r.kind == RuleKind::Observer) {
            self.problem(join(path, "rules"), "value", "needs at least one approver rule (observers never count)");
        }
        let require_comment = self.decision_list(map, path, "require_comment");
        let decision_schema = map.get("decision_schema").filter(|v| !v.is_null()).cloned();
        if let Some(schema) = &decision_schema {
            for p in context_schema::check_schema(schema) {
                self.problem(join(&join(path, "decision_schema"), &p.path), "schema", p.message);
            }
        }
        let decision_check = map.get("decision_check").filter(|v| !v.is_null()).cloned();
        if let Some(rule) = &decision_check {
            self.logic(&join(path, "decision_check"), rule, true);
        }
        let decision_check_message = self.string(map, path, "decision_check_message", false);
        if decision_check_message.is_some() && decision_check.is_none() {
            self.problem(join(path, "decision_check_message"), "value", "is shown when decision_check fails; there is no decision_check");
        }
        let on_resolver_failure = match map.get("on_resolver_failure") {
            None => OnResolverFailure::Fail,
            Some(v) if v == "fail" => OnResolverFailure::Fail,
            Some(v) if v == "skip" => OnResolverFailure::Skip,
            Some(v) if v == "escalate" => OnResolverFailure::Escalate,
            Some(_) => {
                self.problem(join(path, "on_resolver_failure"), "value", "must be \"fail\", \"skip\" or \"escalate\"");
                OnResolverFailure::Fail
            }
        };
        if map.contains_key("on_resolver_failure") && !rules.iter().any(|r| matches!(r.source, RuleSource::Http { .. })) {
            self.problem(join(path, "on_resolver_failure"), "value", "applies only to a stage with an http rule");
        }
        if on_resolver_failure == OnResolverFailure::Escalate && on_breach.as_ref().is_none_or(|b| b.action != BreachAction::Escalate) {
            self.problem(join(path, "on_resolver_failure"), "value", "\"escalate\" takes its approvers from on_breach: {action: escalate, rules}, which this stage lacks");
        }
        Some(Stage {
            name: name?, mode: mode?, veto, rules, exclude, skip_if, on_empty, parallel_group, sla, on_breach,
            require_comment, decision_schema, decision_check, decision_check_message, on_resolver_failure,
        })
    }

    /// A list of decision names (`approve`, `reject`, `abstain`, `request_changes`).
    fn decision_list(&mut self, map: &Map<String, Value>, path: &str, key: &str) -> Vec<crate::model::Decision> {
        let p = join(path, key);
        match map.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().enumerate().filter_map(|(i, v)| {
                match v.as_str().map(crate::model::Decision::parse) {
                    Some(Ok(d)) => Some(d),
                    _ => {
                        self.problem(format!("{p}[{i}]"), "value", "must be one of approve, reject, abstain, request_changes");
                        None
                    }
                }
            }).collect(),
            Some(other) => {
                self.problem(p, "type", format!("must be an array of decisions, got {}", type_name(other)));
                Vec::new()
            }
        }
    }

    fn mode(&mut self, map: &Map<String, Value>, path: &str, rules: &[Rule]) -> Option<Mode> {
        let raw = match map.get("mode") {
            None => "all".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                self.problem(join(path, "mode"), "type", format!("must be a string, got {}", type_name(other)));
                return None;
            }
        };
        // The most approvers this stage can ever have, when it is knowable
        // statically (only literal users); otherwise checked at run time.
        // Required approvers are counted apart from n, so only optional
        // ones can make it up.
        let static_max = rules
            .iter()
            .filter(|r| r.kind == RuleKind::Approver && !r.required)
            .try_fold(HashSet::new(), |mut set, r| match &r.source {
                RuleSource::User { user } => {
                    set.insert(user.as_str());
                    Some(set)
                }
                _ => None,
            })
            .map(|s| s.len() as u64);
        let n_limit = static_max.unwrap_or(10_000).max(1);
        let forbid = |r: &mut Self, key: &str, why: &str| {
            if map.contains_key(key) {
                r.problem(join(path, key), "value", format!("is not used by mode \"{raw}\"{why}"));
            }
        };
        let n_problem = |r: &mut Self| {
            let msg = match static_max {
                Some(m) => format!("must be ≥ 1 and ≤ the number of approvers it can resolve ({m})"),
                None => "must be a whole number ≥ 1".to_string(),
            };
            r.problem(join(path, "n"), "range", msg);
        };
        match raw.as_str() {
            "all" => {
                forbid(self, "n", "");
                forbid(self, "p", "");
                Some(Mode::All)
            }
            "any" | "quorum" => {
                forbid(self, "p", "");
                let n = match map.get("n") {
                    None if raw == "any" => Some(1),
                    None => {
                        self.problem(join(path, "n"), "required", "is required for mode \"quorum\"");
                        return None;
                    }
                    Some(v) => match v.as_u64() {
                        Some(n) if n >= 1 && n <= n_limit => Some(n as u32),
                        _ => {
                            n_problem(self);
                            None
                        }
                    },
                }?;
                Some(Mode::Any { n })
            }
            m if m.starts_with("any-") => {
                forbid(self, "p", "");
                forbid(self, "n", " (the count is in the mode name)");
                match m[4..].parse::<u64>() {
                    Ok(n) if n >= 1 && n <= n_limit => Some(Mode::Any { n: n as u32 }),
                    _ => {
                        self.problem(join(path, "mode"), "range", format!("\"{m}\": N must be ≥ 1{}", static_max.map(|x| format!(" and ≤ the number of approvers it can resolve ({x})")).unwrap_or_default()));
                        None
                    }
                }
            }
            "percentage" => {
                forbid(self, "n", "");
                match map.get("p") {
                    None => {
                        self.problem(join(path, "p"), "required", "is required for mode \"percentage\" (1 to 100)");
                        None
                    }
                    Some(v) => match v.as_u64() {
                        Some(p) if (1..=100).contains(&p) => Some(Mode::Percentage { p: p as u32 }),
                        _ => {
                            self.problem(join(path, "p"), "range", "must be an integer from 1 to 100");
                            None
                        }
                    },
                }
            }
            other => {
                self.problem(join(path, "mode"), "value", format!("unknown mode \"{other}\"; use all, any, any-N, quorum or percentage"));
                None
            }
        }
    }

    fn rule_list(&mut self, map: &Map<String, Value>, path: &str, key: &str, required: bool) -> Vec<Rule> {
        let p = join(path, key);
        match map.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.problem(p, "required", "is required: at least one rule");
                }
                Vec::new()
            }
            Some(Value::Array(items)) => {
                if required && items.is_empty() {
                    self.problem(p.clone(), "value", "must have at least one rule");
                }
                if items.len() > self.limits.max_rules_per_stage {
                    self.problem(p, "limit", format!("has {} rules; the limit (awe.max_rules_per_stage) is {}", items.len(), self.limits.max_rules_per_stage));
                    return Vec::new();
                }
                let exclude = key == "exclude";
                items.iter().enumerate().filter_map(|(i, r)| self.rule(&format!("{p}[{i}]"), r, exclude)).collect()
            }
            Some(other) => {
                self.problem(p, "type", format!("must be an array of rules, got {}", type_name(other)));
                Vec::new()
            }
        }
    }

    fn rule(&mut self, path: &str, v: &Value, exclude: bool) -> Option<Rule> {
        const FIELDS: &[&str] = &["type", "user", "role", "group", "include_subgroups", "logic", "url", "required", "kind"];
        let map = self.object(path, v, FIELDS)?;
        let ty = self.string(map, path, "type", true)?;
        let own: &[&str] = match ty.as_str() {
            "user" => &["user"],
            "role" => &["role"],
            "group" => &["group", "include_subgroups"],
            "expression" => &["logic"],
            "http" => &["url"],
            other => {
                self.problem(join(path, "type"), "value", format!("unknown rule type \"{other}\"; use user, role, group, expression or http"));
                return None;
            }
        };
        for key in ["user", "role", "group", "include_subgroups", "logic", "url"] {
            if map.contains_key(key) && !own.contains(&key) {
                self.problem(join(path, key), "value", format!("is not used by a rule of type \"{ty}\""));
            }
        }
        let required = self.boolean(map, path, "required", false);
        let kind = match map.get("kind") {
            None => RuleKind::Approver,
            Some(v) if v == "approver" => RuleKind::Approver,
            Some(v) if v == "observer" => RuleKind::Observer,
            Some(_) => {
                self.problem(join(path, "kind"), "value", "must be \"approver\" or \"observer\"");
                RuleKind::Approver
            }
        };
        if required && kind == RuleKind::Observer {
            self.problem(join(path, "required"), "value", "an observer never counts, so it cannot be required");
        }
        if exclude && (map.contains_key("required") || map.contains_key("kind")) {
            self.problem(path, "value", "exclude rules only name principals; \"required\" and \"kind\" do not apply");
        }
        let source = match ty.as_str() {
            "user" => {
                let user = self.string(map, path, "user", true)?;
                if user == crate::model::SYSTEM_ACTOR {
                    self.problem(join(path, "user"), "value", "\"system\" is reserved for the engine's own actions and cannot approve");
                }
                RuleSource::User { user }
            }
            "role" => RuleSource::Role { role: self.identifier(map, path, "role", true)? },
            "group" => {
                let group = self.string(map, path, "group", true)?;
                if !group.starts_with('/') || group.len() > 512 {
                    self.problem(join(path, "group"), "value", "must be a group path starting with \"/\", like \"/finance/approvers\"");
                }
                let include_subgroups = self.boolean(map, path, "include_subgroups", false);
                RuleSource::Group { group: group.trim_end_matches('/').to_string(), include_subgroups }
            }
            "expression" => {
                let Some(logic) = map.get("logic") else {
                    self.problem(join(path, "logic"), "required", "is required: JSONLogic returning a principal or a list");
                    return None;
                };
                self.logic(&join(path, "logic"), logic, false);
                RuleSource::Expression { logic: logic.clone() }
            }
            _ => {
                let url = self.string(map, path, "url", true)?;
                if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 {
                    self.problem(join(path, "url"), "value", "must be an http:// or https:// URL");
                }
                if exclude {
                    self.problem(join(path, "type"), "value", "http rules cannot be used to exclude");
                }
                RuleSource::Http { url }
            }
        };
        Some(Rule { kind, required, source })
    }

    fn breach(&mut self, path: &str, v: &Value) -> Option<Breach> {
        let map = self.object(path, v, &["action", "every", "max", "rules"])?;
        let action = match self.string(map, path, "action", true)?.as_str() {
            "notify" => BreachAction::Notify,
            "remind" => BreachAction::Remind,
            "escalate" => BreachAction::Escalate,
            "auto_approve" => BreachAction::AutoApprove,
            "auto_reject" => BreachAction::AutoReject,
            other => {
                self.problem(join(path, "action"), "value", format!("unknown action \"{other}\"; use notify, remind, escalate, auto_approve or auto_reject"));
                return None;
            }
        };
        let every = self.duration(map, path, "every");
        let max = self.integer(map, path, "max", 1, 100);
        let rules = self.rule_list(map, path, "rules", action == BreachAction::Escalate);
        if action == BreachAction::Remind && every.is_none() {
            self.problem(join(path, "every"), "required", "is required for \"remind\": how often to remind");
        }
        if action != BreachAction::Remind && (every.is_some() || max.is_some()) {
            self.problem(path, "value", "\"every\" and \"max\" only apply to \"remind\"");
        }
        if action != BreachAction::Escalate && map.contains_key("rules") {
            self.problem(join(path, "rules"), "value", "only \"escalate\" adds approvers");
        }
        // Escalation adds optional approvers, resolved when the SLA breaks
        // (inside the timer, so no http call): say so rather than ignore.
        if let Some(Value::Array(items)) = map.get("rules") {
            for (i, r) in items.iter().enumerate() {
                let at = format!("{}[{i}]", join(path, "rules"));
                if r.get("type").and_then(Value::as_str) == Some("http") {
                    self.problem(join(&at, "type"), "value", "escalation cannot ask an http resolver; use user, role, group or expression rules");
                }
                for key in ["kind", "required"] {
                    if r.get(key).is_some() {
                        self.problem(join(&at, key), "value", "escalation adds optional approvers; \"kind\" and \"required\" do not apply");
                    }
                }
            }
        }
        Some(Breach { action, every, max: max.unwrap_or(3), rules })
    }
}

/// Used when a policy does not say: enough for real send-back loops, small
/// enough that a request cannot ping-pong forever.
pub const DEFAULT_MAX_REVISIONS: u32 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Policy, Vec<Problem>> {
        parse_policy(&v, &PolicyLimits::default(), &mut LogicCache::default())
    }

    fn problems(v: Value) -> Vec<(String, &'static str)> {
        parse(v).unwrap_err().into_iter().map(|p| (p.path, p.code)).collect()
    }

    fn minimal() -> Value {
        json!({"key": "k", "artifact_type": "doc", "stages": [{"name": "s", "rules": [{"type": "user", "user": "alice"}]}]})
    }

    #[test]
    fn summary_and_summarizer_are_checked_against_the_context_schema() {
        let mut v = minimal();
        v["context_schema"] = json!({"type": "object", "additionalProperties": false, "properties": {"amount": {"type": "number"}, "purpose": {"type": "string"}}});
        v["summary"] = json!("{{ requester }} asks {{ amount }} for {{ purpos }}");
        v["summarizer"] = json!({"endpoint": "local llm", "model": "llama3", "fields": ["amount", "secret"], "extra": 1});
        let got: Vec<String> = problems(v).into_iter().map(|(p, _)| p).collect();
        assert!(got.contains(&"summary".to_string()), "{got:?}");
        assert!(got.contains(&"summarizer.extra".to_string()), "{got:?}");
        let mut ok = minimal();
        ok["summary"] = json!("{{ requester }} asks {{ amount }}");
        ok["summarizer"] = json!({"endpoint": "local", "model": "llama3", "fields": ["amount", "purpose"], "instructions": "Be brief."});
        let p = parse(ok).unwrap();
        assert_eq!(p.summarizer.unwrap().fields, vec!["amount", "purpose"]);
        let mut missing = minimal();
        missing["summarizer"] = json!({"endpoint": "local", "model": "m"});
        assert_eq!(problems(missing), vec![("summarizer.fields".to_string(), "required")]);
    }

    #[test]
    fn decision_fields_and_resolver_routes_are_checked() {
        let mut v = minimal();
        v["stages"][0]["require_comment"] = json!(["reject", "veto"]);
        v["stages"][0]["decision_schema"] = json!({"type": "object", "properties": {"x": {"type": "number", "format": "money"}}});
        v["stages"][0]["decision_check_message"] = json!("nope");
        v["stages"][0]["on_resolver_failure"] = json!("escalate");
        let mut got = problems(v);
        got.sort();
        assert_eq!(got, vec![
            ("stages[0].decision_check_message".to_string(), "value"),
            ("stages[0].decision_schema.properties.x.format".to_string(), "schema"),
            ("stages[0].on_resolver_failure".to_string(), "value"),
            ("stages[0].on_resolver_failure".to_string(), "value"),
            ("stages[0].require_comment[1]".to_string(), "value"),
        ]);
        let mut ok = minimal();
        ok["stages"][0]["require_comment"] = json!(["reject", "request_changes"]);
        ok["stages"][0]["decision_check"] = json!({"<=": [{"var": "decision.amount"}, {"var": "context.amount"}]});
        ok["stages"][0]["rules"] = json!([{"type": "http", "url": "https://r.example.com"}]);
        ok["stages"][0]["on_resolver_failure"] = json!("skip");
        let p = parse(ok).unwrap();
        assert_eq!((p.stages[0].require_comment.len(), p.stages[0].on_resolver_failure), (2, OnResolverFailure::Skip));
    }

    #[test]
    fn minimal_policy_gets_defaults() {
        let p = parse(minimal()).unwrap();
        assert_eq!(p.stages[0].mode, Mode::All);
        assert!(p.stages[0].veto);
        assert_eq!(p.stages[0].on_empty, OnEmpty::Block);
        assert_eq!(p.max_revisions, DEFAULT_MAX_REVISIONS);
        assert_eq!(p.stages[0].rules[0], Rule { kind: RuleKind::Approver, required: false, source: RuleSource::User { user: "alice".into() } });
    }

    #[test]
    fn full_expense_policy_parses() {
        let text = include_str!("../../examples/expense-report.yaml");
        let v: Value = serde_yaml::from_str(text).unwrap();
        let p = parse(v).unwrap();
        assert_eq!(p.key, "expense.report");
        assert!(p.stages.len() >= 2);
    }

    #[test]
    fn modes_and_aliases() {
        let stage = |extra: Value| {
            let mut s = json!({"name": "s", "rules": [{"type": "role", "role": "r"}]});
            s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            parse(json!({"key": "k", "artifact_type": "d", "stages": [s]})).map(|p| p.stages[0].mode)
        };
        assert_eq!(stage(json!({"mode": "any", "n": 2})), Ok(Mode::Any { n: 2 }));
        assert_eq!(stage(json!({"mode": "any-3"})), Ok(Mode::Any { n: 3 }));
        assert_eq!(stage(json!({"mode": "quorum", "n": 2})), Ok(Mode::Any { n: 2 }));
        assert_eq!(stage(json!({"mode": "any"})), Ok(Mode::Any { n: 1 }));
        assert_eq!(stage(json!({"mode": "percentage", "p": 60})), Ok(Mode::Percentage { p: 60 }));
        assert!(stage(json!({"mode": "percentage", "p": 0})).is_err());
        assert!(stage(json!({"mode": "percentage", "p": 101})).is_err());
        assert!(stage(json!({"mode": "quorum"})).is_err());
        assert!(stage(json!({"mode": "all", "n": 2})).is_err());
        assert!(stage(json!({"mode": "any-0"})).is_err());
        assert!(stage(json!({"mode": "majority"})).is_err());
    }

    #[test]
    fn n_cannot_exceed_literal_users() {
        let errs = problems(json!({"key": "k", "artifact_type": "d", "stages": [
            {"name": "s", "mode": "any", "n": 3, "rules": [{"type": "user", "user": "a"}, {"type": "user", "user": "b"}]}]}));
        assert_eq!(errs, vec![("stages[0].n".to_string(), "range")]);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let errs = problems(json!({
            "key": "", "artifact_type": 5, "bogus": 1, "expires_after": "soon",
            "context_schema": {"oneOf": []},
            "stages": [
                {"name": "a", "mode": "any", "n": 0, "rules": [{"type": "user"}], "skip_if": {"nope": []}, "colour": "red"},
                {"name": "a", "rules": [], "on_empty": "explode", "sla": "8 hours", "on_breach": {"action": "escalate"}},
                {"name": "c", "rules": [{"type": "user", "user": "x", "kind": "observer", "required": true}]},
                {"name": "d", "rules": [{"type": "telepathy"}]}
            ]
        }));
        let want = [
            ("bogus", "unknown_field"),
            ("key", "value"),
            ("artifact_type", "type"),
            ("context_schema.oneOf", "schema"),
            ("expires_after", "duration"),
            ("stages[0].colour", "unknown_field"),
            ("stages[0].rules[0].user", "required"),
            ("stages[0].n", "range"),
            ("stages[0].skip_if", "logic"),
            ("stages[1].rules", "value"),
            ("stages[1].on_empty", "value"),
            ("stages[1].sla", "duration"),
            ("stages[1].on_breach.rules", "required"),
            ("stages[1].on_breach", "value"),
            ("stages[2].rules[0].required", "value"),
            ("stages[2].rules", "value"),
            ("stages[3].rules[0].type", "value"),
            ("stages[1].name", "duplicate"),
        ];
        for (path, code) in want {
            assert!(errs.contains(&(path.to_string(), code)), "missing {path} {code} in {errs:#?}");
        }
    }

    #[test]
    fn unknown_field_suggests_the_right_name() {
        let mut v = minimal();
        v["stages"][0]["skipIf"] = json!(true);
        let errs = parse(v).unwrap_err();
        assert!(errs[0].message.contains("did you mean \"skip_if\""), "{}", errs[0].message);
    }

    #[test]
    fn parallel_groups_form_steps_and_must_be_adjacent() {
        let rules = json!([{"type": "user", "user": "u"}]);
        let p = parse(json!({"key": "k", "artifact_type": "d", "stages": [
            {"name": "legal", "parallel_group": "g", "rules": rules},
            {"name": "finance", "parallel_group": "g", "rules": rules},
            {"name": "director", "rules": rules}]})).unwrap();
        assert_eq!(p.steps(), vec![vec![0, 1], vec![2]]);
        assert_eq!(p.step_of(1), 0);
        let errs = problems(json!({"key": "k", "artifact_type": "d", "stages": [
            {"name": "a", "parallel_group": "g", "rules": rules},
            {"name": "b", "rules": rules},
            {"name": "c", "parallel_group": "g", "rules": rules}]}));
        assert_eq!(errs, vec![("stages[2].parallel_group".to_string(), "value")]);
    }

    #[test]
    fn limits_are_enforced() {
        let stages: Vec<Value> = (0..21).map(|i| json!({"name": format!("s{i}"), "rules": [{"type": "user", "user": "u"}]})).collect();
        let errs = problems(json!({"key": "k", "artifact_type": "d", "stages": stages}));
        assert_eq!(errs, vec![("stages".to_string(), "limit")]);
        let rules: Vec<Value> = (0..51).map(|i| json!({"type": "user", "user": format!("u{i}")})).collect();
        let errs = problems(json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "rules": rules}]}));
        assert_eq!(errs, vec![("stages[0].rules".to_string(), "limit")]);
        let mut deep = json!(true);
        for _ in 0..70 {
            deep = json!({"!": [deep]});
        }
        let mut v = minimal();
        v["stages"][0]["skip_if"] = deep;
        assert_eq!(problems(v), vec![("stages[0].skip_if".to_string(), "limit")]);
    }

    #[test]
    fn breach_actions() {
        let mut v = minimal();
        v["stages"][0]["sla"] = json!("8h");
        v["stages"][0]["on_breach"] = json!({"action": "remind", "every": "2h", "max": 2});
        let b = parse(v.clone()).unwrap().stages[0].on_breach.clone().unwrap();
        assert_eq!((b.action, b.every, b.max), (BreachAction::Remind, Some(7200), 2));
        v["stages"][0]["on_breach"] = json!({"action": "auto_approve", "every": "2h"});
        assert_eq!(problems(v.clone()), vec![("stages[0].on_breach".to_string(), "value")]);
        v["stages"][0]["on_breach"] = json!({"action": "escalate", "rules": [{"type": "role", "role": "fd"}]});
        assert!(parse(v.clone()).is_ok());
        v["stages"][0].as_object_mut().unwrap().remove("sla");
        assert_eq!(problems(v), vec![("stages[0].on_breach".to_string(), "value")]);
    }

    #[test]
    fn not_an_object() {
        assert_eq!(problems(json!([1])), vec![(String::new(), "type")]);
        assert_eq!(problems(json!({"key": "k", "artifact_type": "d"})), vec![("stages".to_string(), "required")]);
    }

    #[test]
    fn rules_must_be_operations_not_data() {
        for (skip_if, ok) in [
            (json!("total < 500"), false),
            (json!(1), false),
            (json!([{"<": [1, 2]}]), false),
            (json!(null), false),
            (json!({}), false),
            (json!({"<": [{"var": "total"}, 500]}), true),
            (json!({"<": [{"var": "total"}, 500], "note": "x"}), false),
            (json!(true), true),
            (json!(false), true),
        ] {
            let v = json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "skip_if": skip_if.clone(), "rules": [
                {"type": "user", "user": "a"}]}]});
            if ok {
                assert!(parse(v).is_ok(), "{skip_if}");
            } else {
                assert_eq!(problems(v), vec![("stages[0].skip_if".to_string(), "logic")], "{skip_if}");
            }
        }
        for logic in [json!("mia"), json!(["mia"]), json!(null), json!(true)] {
            let v = json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "rules": [{"type": "expression", "logic": logic}]}]});
            assert_eq!(problems(v), vec![("stages[0].rules[0].logic".to_string(), "logic")]);
        }
    }

    #[test]
    fn escalation_rules_are_plain_optional_approvers() {
        let mut v = minimal();
        v["stages"][0]["sla"] = json!("8h");
        v["stages"][0]["on_breach"] = json!({"action": "escalate", "rules": [
            {"type": "http", "url": "https://x.example/r"}, {"type": "user", "user": "cfo", "required": true},
            {"type": "role", "role": "fd", "kind": "observer"}]});
        assert_eq!(problems(v), vec![
            ("stages[0].on_breach.rules[0].type".to_string(), "value"),
            ("stages[0].on_breach.rules[1].required".to_string(), "value"),
            ("stages[0].on_breach.rules[2].kind".to_string(), "value")]);
    }

    #[test]
    fn n_counts_only_optional_approvers_and_system_is_nobody() {
        let v = json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "mode": "any", "n": 3, "rules": [
            {"type": "user", "user": "a"}, {"type": "user", "user": "b"}, {"type": "user", "user": "cfo", "required": true}]}]});
        assert_eq!(problems(v), vec![("stages[0].n".to_string(), "range")]);
        let v = json!({"key": "k", "artifact_type": "d", "stages": [{"name": "s", "rules": [{"type": "user", "user": "system"}]}]});
        assert_eq!(problems(v), vec![("stages[0].rules[0].user".to_string(), "value")]);
    }
}
