//! The directory `awe simulate` resolves role and group rules with, offline:
//! users with their roles and groups, and delegations, from a YAML or JSON
//! file; or nobody at all when no file is given.

use awe_core::resolve::Directory;
use awe_core::AweResult;
use serde::Deserialize;
use serde_json::Value;

/// `{users: [{id, roles: [...], groups: [...]}], delegations: [{from, to}]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryFile {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub delegations: Vec<Delegation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    pub from: String,
    pub to: String,
}

impl DirectoryFile {
    pub fn from_value(v: Value) -> Result<DirectoryFile, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }
}

/// A group path without its trailing slash, as policies store them.
fn normalize(group: &str) -> &str {
    group.trim_end_matches('/')
}

impl Directory for DirectoryFile {
    fn role_members(&mut self, role: &str) -> AweResult<Vec<String>> {
        Ok(self.users.iter().filter(|u| u.roles.iter().any(|r| r == role)).map(|u| u.id.clone()).collect())
    }

    fn group_members(&mut self, group: &str, include_subgroups: bool) -> AweResult<Vec<String>> {
        let group = normalize(group);
        let below = format!("{group}/");
        let is_member = |g: &String| {
            let g = normalize(g);
            g == group || (include_subgroups && g.starts_with(&below))
        };
        Ok(self.users.iter().filter(|u| u.groups.iter().any(is_member)).map(|u| u.id.clone()).collect())
    }

    fn delegates(&mut self, principals: &[String]) -> AweResult<Vec<(String, String)>> {
        Ok(self
            .delegations
            .iter()
            .filter(|d| principals.contains(&d.from))
            .map(|d| (d.from.clone(), d.to.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_and_delegations() {
        let mut d = DirectoryFile::from_value(json!({
            "users": [{"id": "ana", "roles": ["fin"], "groups": ["/finance/approvers"]},
                      {"id": "bo", "groups": ["/finance/eu/"]},
                      {"id": "cy", "roles": ["fin"]}],
            "delegations": [{"from": "ana", "to": "dee"}]}))
        .unwrap();
        assert_eq!(d.role_members("fin").unwrap(), vec!["ana", "cy"]);
        assert_eq!(d.group_members("/finance", false).unwrap(), Vec::<String>::new());
        assert_eq!(d.group_members("/finance", true).unwrap(), vec!["ana", "bo"]);
        assert_eq!(d.group_members("/finance/eu", false).unwrap(), vec!["bo"]);
        assert_eq!(d.delegates(&["ana".into(), "bo".into()]).unwrap(), vec![("ana".to_string(), "dee".to_string())]);
        assert!(DirectoryFile::from_value(json!({"user": []})).unwrap_err().contains("unknown field `user`"));
    }
}
