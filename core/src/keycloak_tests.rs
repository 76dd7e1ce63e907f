//! Tests of the Keycloak client (`keycloak.rs`) against an in-memory fake
//! realm that answers like Keycloak 26: the same paths, JSON shapes, paging
//! (`first`/`max`, Keycloak's default `max` per endpoint), bearer-token
//! checks and 404s, plus scripted faults. Its clock only moves when the
//! client sleeps, so retry tests run instantly and can check each wait.

use super::*;
use crate::keycloak_options::KeycloakOptions;
use std::collections::BTreeMap;

const BASE: &str = "http://kc";
const SECRET: &str = "s3cr3t";

#[derive(Clone)]
struct User {
    id: String,
    username: String,
    enabled: bool,
    email: Option<String>,
    first: Option<String>,
    last: Option<String>,
    attributes: BTreeMap<String, Vec<String>>,
    /// Service-account users are absent from `/users` but can hold roles.
    service_account: bool,
}

struct Group {
    id: String,
    name: String,
    parent: Option<usize>,
    members: Vec<usize>,
}

#[derive(Default, Clone)]
struct Role {
    users: Vec<usize>,
    groups: Vec<usize>,
}

struct Client {
    uuid: String,
    client_id: String,
    roles: BTreeMap<String, Role>,
}

/// A scripted answer for matching requests, `times` times.
struct Fault {
    path_contains: &'static str,
    first: Option<usize>,
    status: u16,
    body: String,
    retry_after: Option<String>,
    times: u32,
}

struct FakeKeycloak {
    realm: String,
    users: Vec<User>,
    groups: Vec<Group>,
    roles: BTreeMap<String, Role>,
    clients: Vec<Client>,
    /// Live tokens → admin calls each may still make.
    tokens: HashMap<String, u32>,
    token_ttl_calls: u32,
    expires_in: u64,
    issued: u32,
    faults: Vec<Fault>,
    transport_errors: u32,
    /// Deletes this user just before the request with this index is served.
    delete_at_call: Option<(usize, String)>,
    now_ms: u64,
    sleeps: Vec<Duration>,
    log: Vec<String>,
}

impl FakeKeycloak {
    fn new() -> Self {
        FakeKeycloak {
            realm: "acme".into(),
            users: Vec::new(),
            groups: Vec::new(),
            roles: BTreeMap::new(),
            clients: Vec::new(),
            tokens: HashMap::new(),
            token_ttl_calls: u32::MAX,
            expires_in: 300,
            issued: 0,
            faults: Vec::new(),
            transport_errors: 0,
            delete_at_call: None,
            now_ms: 1_700_000_000_000,
            sleeps: Vec::new(),
            log: Vec::new(),
        }
    }

    fn user(&mut self, username: &str) -> usize {
        let (first, last) = username.split_once('.').map_or((username, ""), |(a, b)| (a, b));
        self.users.push(User {
            id: format!("00000000-0000-0000-0000-{:012}", self.users.len()),
            username: username.into(),
            enabled: true,
            email: Some(format!("{username}@example.com")),
            first: Some(first.into()),
            last: (!last.is_empty()).then(|| last.into()),
            attributes: BTreeMap::new(),
            service_account: false,
        });
        self.users.len() - 1
    }

    fn uid(&self, username: &str) -> usize {
        self.users.iter().position(|u| u.username == username).unwrap()
    }

    /// Creates `/a/b/c` (and missing ancestors); returns the last group.
    fn group(&mut self, path: &str, members: &[&str]) -> usize {
        let mut parent = None;
        for name in path.trim_start_matches('/').split('/') {
            let existing = self.groups.iter().position(|g| g.name == name && g.parent == parent);
            parent = Some(existing.unwrap_or_else(|| {
                self.groups.push(Group { id: format!("g-{}", self.groups.len()), name: name.into(), parent, members: Vec::new() });
                self.groups.len() - 1
            }));
        }
        let g = parent.unwrap();
        for m in members {
            let u = self.uid(m);
            self.groups[g].members.push(u);
        }
        g
    }

    fn role(&mut self, name: &str, users: &[&str], groups: &[usize]) {
        let r = Role { users: users.iter().map(|u| self.uid(u)).collect(), groups: groups.to_vec() };
        self.roles.insert(name.into(), r);
    }

    /// The expense example: a manager, three finance approvers, a director.
    fn expense() -> Self {
        let mut kc = FakeKeycloak::new();
        for u in ["sam", "mia", "fin.ana", "fin.ben", "fin.cy", "dora"] {
            kc.user(u);
        }
        kc.group("/finance/approvers", &["fin.ana", "fin.ben", "fin.cy"]);
        kc.group("/staff", &["sam", "mia"]);
        kc.role("finance-director", &["dora"], &[]);
        kc.role("default-roles-acme", &["sam", "mia", "fin.ana", "fin.ben", "fin.cy", "dora"], &[]);
        kc.role("offline_access", &[], &[]);
        kc
    }

    fn fault(&mut self, path_contains: &'static str, first: Option<usize>, status: u16, times: u32) -> &mut Fault {
        self.faults.push(Fault { path_contains, first, status, body: format!("{{\"error\":\"HTTP {status}\"}}"), retry_after: None, times });
        self.faults.last_mut().unwrap()
    }

    fn path(&self, g: usize) -> String {
        match self.groups[g].parent {
            Some(p) => format!("{}/{}", self.path(p), self.groups[g].name),
            None => format!("/{}", self.groups[g].name),
        }
    }

    fn children_of(&self, parent: Option<usize>) -> Vec<usize> {
        let mut c: Vec<usize> = (0..self.groups.len()).filter(|&g| self.groups[g].parent == parent).collect();
        c.sort_by(|a, b| self.groups[*a].name.cmp(&self.groups[*b].name));
        c
    }

    fn group_json(&self, g: usize, with_count: bool) -> Value {
        let mut v = serde_json::json!({"id": self.groups[g].id, "name": self.groups[g].name, "path": self.path(g), "subGroups": []});
        if let Some(p) = self.groups[g].parent {
            v["parentId"] = self.groups[p].id.clone().into();
        }
        if with_count {
            v["subGroupCount"] = self.children_of(Some(g)).len().into();
        }
        v
    }

    fn user_json(&self, u: usize, brief: bool) -> Value {
        let u = &self.users[u];
        let mut v = serde_json::json!({"id": u.id, "username": u.username, "enabled": u.enabled, "emailVerified": false, "createdTimestamp": 1_700_000_000_000u64});
        if let Some(e) = &u.email {
            v["email"] = e.clone().into();
        }
        if let Some(f) = &u.first {
            v["firstName"] = f.clone().into();
        }
        if let Some(l) = &u.last {
            v["lastName"] = l.clone().into();
        }
        if !brief {
            v["totp"] = false.into();
            v["requiredActions"] = serde_json::json!([]);
            if !u.attributes.is_empty() {
                v["attributes"] = serde_json::to_value(&u.attributes).unwrap();
            }
        }
        v
    }

    fn users_json(&self, mut ids: Vec<usize>, brief: bool) -> Vec<Value> {
        ids.sort_by(|a, b| self.users[*a].username.cmp(&self.users[*b].username));
        ids.into_iter().map(|u| self.user_json(u, brief)).collect()
    }

    fn route(&mut self, req: &HttpRequest) -> HttpResponse {
        let json = |status: u16, v: Value| HttpResponse { status, headers: vec![("Content-Type".into(), "application/json".into())], body: v.to_string() };
        let url = req.url.strip_prefix(BASE).expect("the client only calls the configured base URL");
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let q: HashMap<&str, String> = query.split('&').filter(|p| !p.is_empty()).map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k, decode(v))
        }).collect();
        let seg: Vec<String> = path.trim_start_matches('/').split('/').map(decode).collect();
        let seg: Vec<&str> = seg.iter().map(String::as_str).collect();

        if let ["realms", realm, "protocol", "openid-connect", "token"] = seg.as_slice() {
            assert_eq!(req.method, Method::Post);
            let form: HashMap<&str, String> = req.body.as_deref().unwrap_or("").split('&').map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k, decode(v))
            }).collect();
            if *realm != self.realm {
                return json(404, serde_json::json!({"error": "Realm does not exist"}));
            }
            if form.get("client_id").map(String::as_str) != Some("awe-sync") || form.get("client_secret").map(String::as_str) != Some(SECRET) {
                return json(401, serde_json::json!({"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}));
            }
            assert_eq!(form["grant_type"], "client_credentials");
            self.issued += 1;
            let token = format!("token-{}", self.issued);
            self.tokens.insert(token.clone(), self.token_ttl_calls);
            return json(200, serde_json::json!({"access_token": token, "expires_in": self.expires_in, "refresh_expires_in": 0, "token_type": "Bearer", "not-before-policy": 0, "scope": "profile email"}));
        }

        let ["admin", "realms", realm, rest @ ..] = seg.as_slice() else { return json(404, serde_json::json!({"error": "Unable to find matching target resource method"})) };
        let bearer = req.headers.iter().find(|(n, _)| n == "Authorization").and_then(|(_, v)| v.strip_prefix("Bearer "));
        match bearer.and_then(|b| self.tokens.get_mut(b)) {
            Some(left) if *left > 0 => *left -= 1,
            _ => return json(401, serde_json::json!({"error": "HTTP 401 Unauthorized"})),
        }
        if *realm != self.realm {
            return json(404, serde_json::json!({"error": "Realm not found."}));
        }
        let num = |k: &str| q.get(k).map(|v| v.parse::<usize>().unwrap());
        let brief = |default: bool| q.get("briefRepresentation").map_or(default, |v| v == "true");
        let page = |items: Vec<Value>, default_max: Option<usize>| -> Value {
            let first = num("first").unwrap_or(0);
            let max = num("max").or(default_max).unwrap_or(usize::MAX);
            Value::Array(items.into_iter().skip(first).take(max).collect())
        };
        let not_found = |what: &str| json(404, serde_json::json!({"error": format!("Could not find {what}"), "error_description": "For more on this error consult the server log."}));
        match rest {
            ["users", "count"] => json(200, Value::from(self.users.iter().filter(|u| !u.service_account).count())),
            ["users"] => {
                let ids = (0..self.users.len()).filter(|&u| !self.users[u].service_account).collect();
                json(200, page(self.users_json(ids, brief(false)), Some(100)))
            }
            ["groups"] => {
                let tops = self.children_of(None).into_iter().map(|g| self.group_json(g, true)).collect();
                json(200, page(tops, None))
            }
            ["groups", id, what] => {
                let Some(g) = self.groups.iter().position(|g| g.id == *id) else { return not_found("group by id") };
                match *what {
                    "children" => json(200, page(self.children_of(Some(g)).into_iter().map(|c| self.group_json(c, true)).collect(), Some(10))),
                    "members" => json(200, page(self.users_json(self.groups[g].members.clone(), brief(false)), Some(100))),
                    _ => not_found("resource"),
                }
            }
            ["roles"] => {
                let names: Vec<Value> = self.roles.keys().map(|n| serde_json::json!({"id": format!("r-{n}"), "name": n, "composite": false, "clientRole": false, "containerId": "acme"})).collect();
                let (f, m) = (num("first"), num("max"));
                json(200, if f.is_some() && m.is_some() { page(names, None) } else { Value::Array(names) })
            }
            ["roles", name, what] => {
                let Some(role) = self.roles.get(*name).cloned() else { return not_found("role") };
                self.role_members(&role, what, &page, brief(false))
            }
            ["clients"] => {
                let wanted = q.get("clientId");
                let list = self.clients.iter().filter(|c| wanted.is_none_or(|w| *w == c.client_id)).map(|c| serde_json::json!({"id": c.uuid, "clientId": c.client_id, "enabled": true})).collect();
                json(200, Value::Array(list))
            }
            ["clients", uuid, "roles"] => {
                let Some(c) = self.clients.iter().find(|c| c.uuid == *uuid) else { return not_found("client") };
                json(200, page(c.roles.keys().map(|n| serde_json::json!({"id": format!("cr-{n}"), "name": n, "clientRole": true})).collect(), None))
            }
            ["clients", uuid, "roles", name, what] => {
                let Some(c) = self.clients.iter().find(|c| c.uuid == *uuid) else { return not_found("client") };
                let Some(role) = c.roles.get(*name).cloned() else { return not_found("role") };
                self.role_members(&role, what, &page, brief(false))
            }
            _ => not_found("resource"),
        }
    }

    fn role_members(&self, role: &Role, what: &str, page: &dyn Fn(Vec<Value>, Option<usize>) -> Value, brief: bool) -> HttpResponse {
        let body = match what {
            "users" => page(self.users_json(role.users.clone(), brief), Some(100)),
            "groups" => page(role.groups.iter().map(|g| self.group_json(*g, false)).collect(), Some(100)),
            _ => return HttpResponse { status: 404, headers: vec![], body: "{}".into() },
        };
        HttpResponse { status: 200, headers: vec![], body: body.to_string() }
    }

    /// Removes a user everywhere, keeping the indexes of the others valid.
    fn delete(&mut self, username: &str) {
        let u = self.uid(username);
        self.users.remove(u);
        let fix = |ids: &mut Vec<usize>| {
            ids.retain(|i| *i != u);
            for i in ids.iter_mut() {
                if *i > u {
                    *i -= 1;
                }
            }
        };
        self.groups.iter_mut().for_each(|g| fix(&mut g.members));
        self.roles.values_mut().for_each(|r| fix(&mut r.users));
    }

    fn calls_to(&self, needle: &str) -> usize {
        self.log.iter().filter(|l| l.contains(needle)).count()
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

impl Transport for FakeKeycloak {
    fn send(&mut self, req: &HttpRequest) -> Result<HttpResponse, String> {
        self.log.push(format!("{} {}", req.method.as_str(), req.url));
        if self.delete_at_call.as_ref().is_some_and(|(at, _)| *at + 1 == self.log.len()) {
            let (_, username) = self.delete_at_call.take().unwrap();
            self.delete(&username);
        }
        if self.transport_errors > 0 {
            self.transport_errors -= 1;
            return Err("connection refused".into());
        }
        let first = req.url.split(['?', '&']).find_map(|p| p.strip_prefix("first=")).and_then(|v| v.parse::<usize>().ok());
        if let Some(f) = self.faults.iter_mut().find(|f| f.times > 0 && req.url.contains(f.path_contains) && (f.first.is_none() || f.first == first)) {
            f.times -= 1;
            let mut headers = vec![];
            if let Some(ra) = &f.retry_after {
                headers.push(("Retry-After".to_string(), ra.clone()));
            }
            return Ok(HttpResponse { status: f.status, headers, body: f.body.clone() });
        }
        Ok(self.route(req))
    }

    fn sleep(&mut self, d: Duration) {
        self.sleeps.push(d);
        self.now_ms += d.as_millis() as u64;
    }

    fn now_millis(&self) -> u64 {
        self.now_ms
    }
}

fn source(options: Value) -> KeycloakSource {
    KeycloakSource {
        base_url: BASE.into(),
        realm: "acme".into(),
        client_id: "awe-sync".into(),
        client_secret: SECRET.into(),
        options: KeycloakOptions::parse(&options).unwrap(),
    }
}

fn ids(set: Option<&BTreeSet<String>>) -> Vec<&str> {
    set.map(|s| s.iter().map(String::as_str).collect()).unwrap_or_default()
}

#[test]
fn the_expense_realm_becomes_the_expense_directory() {
    let mut kc = FakeKeycloak::expense();
    let got = fetch_snapshot(&source(Value::Null), &mut kc).unwrap();
    let s = &got.snapshot;
    assert_eq!(s.principals.len(), 6);
    assert_eq!(s.principals["fin.ana"].display_name.as_deref(), Some("fin ana"));
    assert_eq!(s.principals["sam"].display_name.as_deref(), Some("sam"));
    assert_eq!(s.principals["dora"].email.as_deref(), Some("dora@example.com"));
    assert_eq!(ids(s.groups.get("/finance/approvers")), ["fin.ana", "fin.ben", "fin.cy"]);
    assert!(!s.groups.contains_key("/finance"), "no direct members");
    assert_eq!(ids(s.roles.get("finance-director")), ["dora"]);
    assert!(!s.roles.contains_key("default-roles-acme"), "every user holds it; left out of \"all\"");
    assert!(!s.roles.contains_key("offline_access"), "a role nobody holds adds nothing");
    assert_eq!(got.stats.http_calls as usize, kc.log.len());
    assert_eq!(got.stats.retries, 0);
    // Brief users (no attributes wanted); groups without children are not asked for them.
    assert_eq!(kc.calls_to("/acme/users?briefRepresentation=true"), 1);
    assert_eq!(kc.calls_to("/children"), 1, "only /finance has children");
    assert!(kc.log.iter().all(|l| !l.contains("default-roles-acme/")));
}

#[test]
fn pages_to_the_end_across_many_pages() {
    let mut kc = FakeKeycloak::new();
    for i in 0..250 {
        kc.user(&format!("user{i:03}"));
    }
    let names: Vec<String> = (0..250).map(|i| format!("user{i:03}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let g = kc.group("/everyone", &refs);
    kc.role("approver", &refs[..140], &[g]);
    let got = fetch_snapshot(&source(serde_json::json!({"page_size": 7})), &mut kc).unwrap();
    assert_eq!(got.snapshot.principals.len(), 250);
    assert_eq!(got.snapshot.groups["/everyone"].len(), 250);
    assert_eq!(got.snapshot.roles["approver"].len(), 250, "direct holders plus the group's members");
    // 250 = 35 full pages of 7 + one page of 5.
    assert_eq!(kc.calls_to("/admin/realms/acme/users?"), 36);
    assert!(kc.log.iter().any(|l| l.ends_with("/users?briefRepresentation=true&first=245&max=7")));
    // 140 = 20 full pages: a 21st, empty page proves the end.
    assert_eq!(kc.calls_to("/roles/approver/users?"), 21);
}

#[test]
fn a_user_deleted_while_users_are_paged_makes_the_list_be_read_again() {
    // Users by username: dora, fin.ana | fin.ben, fin.cy | mia, sam. Deleting
    // dora after the first page shifts fin.ben to offset 1, which page two
    // (first=2) never asks for.
    let mut kc = FakeKeycloak::expense();
    kc.delete_at_call = Some((3, "dora".into())); // token, count, page 0, then page 1
    let got = fetch_snapshot(&source(serde_json::json!({"page_size": 2})), &mut kc).unwrap();
    let names: Vec<&str> = got.snapshot.principals.keys().map(String::as_str).collect();
    assert_eq!(names, ["fin.ana", "fin.ben", "fin.cy", "mia", "sam"]);
    assert_eq!(kc.calls_to("/users/count"), 3, "before, after the first read, after the second");

    // Users coming and going on every read: the sync gives up rather than guess.
    let mut kc = FakeKeycloak::expense();
    for i in 0..10 {
        kc.user(&format!("temp{i}"));
    }
    struct Churn(FakeKeycloak);
    impl Transport for Churn {
        fn send(&mut self, req: &HttpRequest) -> Result<HttpResponse, String> {
            if req.url.contains("/users?") && req.url.contains("first=0") {
                let victim = self.0.users.iter().find(|u| u.username.starts_with("temp")).map(|u| u.username.clone());
                self.0.delete(&victim.unwrap());
            }
            self.0.send(req)
        }
        fn sleep(&mut self, d: Duration) {
            self.0.sleep(d)
        }
        fn now_millis(&self) -> u64 {
            self.0.now_millis()
        }
    }
    let e = fetch_snapshot(&source(Value::Null), &mut Churn(kc)).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::Unstable);
}

#[test]
fn a_token_expiring_mid_sync_is_renewed_once_and_the_call_retried() {
    let mut kc = FakeKeycloak::expense();
    kc.token_ttl_calls = 4;
    let got = fetch_snapshot(&source(serde_json::json!({"page_size": 2})), &mut kc).unwrap();
    assert_eq!(got.snapshot, fetch_snapshot(&source(serde_json::json!({"page_size": 2})), &mut FakeKeycloak::expense()).unwrap().snapshot);
    assert!(got.stats.reauthentications >= 3, "{:?}", got.stats);
    assert_eq!(kc.calls_to("/token"), 1 + got.stats.reauthentications as usize);
    // The 5th admin call was refused, then repeated with a new token.
    let admin: Vec<&String> = kc.log.iter().filter(|l| l.contains("/admin/")).collect();
    assert_eq!(admin[4], admin[5]);
}

#[test]
fn a_token_refused_twice_fails_the_sync() {
    let mut kc = FakeKeycloak::expense();
    kc.token_ttl_calls = 0; // every token is refused at once
    let e = fetch_snapshot(&source(Value::Null), &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::Unauthorized);
    assert_eq!(kc.calls_to("/token"), 2);
    assert!(e.call.unwrap().starts_with("GET http://kc/admin/realms/acme/users"));
}

#[test]
fn a_token_is_renewed_before_it_expires() {
    let mut kc = FakeKeycloak::expense();
    kc.expires_in = 60;
    // A 45 s rate-limit wait passes the renewal point (60 s less a 30 s margin).
    kc.fault("/groups?", None, 429, 1).retry_after = Some("45".into());
    let got = fetch_snapshot(&source(Value::Null), &mut kc).unwrap();
    assert_eq!(kc.calls_to("/token"), 2);
    assert_eq!(got.stats.reauthentications, 0, "renewed ahead, not after a 401");
}

#[test]
fn retry_after_is_honoured_in_seconds_and_as_a_date() {
    let mut kc = FakeKeycloak::expense();
    kc.fault("/users", None, 429, 2).retry_after = Some("7".into());
    let got = fetch_snapshot(&source(Value::Null), &mut kc).unwrap();
    assert_eq!(kc.sleeps, [Duration::from_secs(7), Duration::from_secs(7)]);
    assert_eq!((got.stats.retries, got.stats.slept_ms), (2, 14_000));
    assert_eq!(got.snapshot.principals.len(), 6);

    let mut kc = FakeKeycloak::expense();
    // now_ms is 1_700_000_000_000 = Tue, 14 Nov 2023 22:13:20 GMT.
    kc.fault("/groups/", None, 503, 1).retry_after = Some("Tue, 14 Nov 2023 22:13:32 GMT".into());
    fetch_snapshot(&source(Value::Null), &mut kc).unwrap();
    assert_eq!(kc.sleeps, [Duration::from_secs(12)]);
}

#[test]
fn rate_limits_without_end_or_too_long_fail_the_sync() {
    let mut kc = FakeKeycloak::expense();
    kc.fault("/users", None, 429, 100).retry_after = Some("1".into());
    let e = fetch_snapshot(&source(Value::Null), &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::RateLimited);
    assert_eq!(kc.sleeps.len(), 5);

    let mut kc = FakeKeycloak::expense();
    kc.fault("/users", None, 429, 1).retry_after = Some("3600".into());
    let e = fetch_snapshot(&source(Value::Null), &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::RateLimited);
    assert!(e.message.contains("3600 s"), "{e}");
    assert!(kc.sleeps.is_empty(), "no point waiting an hour in the worker");

    // 429 without Retry-After: the client's own backoff.
    let mut kc = FakeKeycloak::expense();
    kc.fault("/users", None, 429, 2);
    fetch_snapshot(&source(Value::Null), &mut kc).unwrap();
    assert_eq!(kc.sleeps, [Duration::from_millis(500), Duration::from_secs(1)]);
}

#[test]
fn a_500_in_the_middle_of_paging_is_retried_then_fails_the_sync() {
    let mut kc = FakeKeycloak::expense();
    for i in 0..40 {
        kc.user(&format!("extra{i:02}"));
    }
    kc.fault("/users", Some(20), 500, 100);
    let e = fetch_snapshot(&source(serde_json::json!({"page_size": 10})), &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::ServerError);
    assert_eq!(e.call.as_deref(), Some("GET http://kc/admin/realms/acme/users?briefRepresentation=true&first=20&max=10"));
    assert!(e.message.contains("500") && e.message.contains("3 retries"), "{e}");
    assert_eq!(kc.sleeps, [Duration::from_millis(500), Duration::from_secs(1), Duration::from_secs(2)]);
    // token + user count + pages 0 and 10 + four attempts at page 20.
    assert_eq!(e.http_calls, 1 + 1 + 2 + 4);
    assert_eq!(e.http_calls as usize, kc.log.len());
}

#[test]
fn passing_5xx_and_transport_errors_are_retried() {
    let mut kc = FakeKeycloak::expense();
    kc.fault("/groups/", None, 502, 2);
    kc.transport_errors = 1;
    let got = fetch_snapshot(&source(Value::Null), &mut kc).unwrap();
    assert_eq!(got.stats.retries, 3);
    assert_eq!(got.snapshot.groups.len(), 2);

    let mut kc = FakeKeycloak::expense();
    kc.transport_errors = 10;
    let e = fetch_snapshot(&source(Value::Null), &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::Transport);
    assert!(e.call.unwrap().contains("/token"));
}

#[test]
fn malformed_json_and_wrong_shapes_name_the_url() {
    let mut kc = FakeKeycloak::expense();
    kc.fault("/members", None, 200, 1).body = "[{\"id\": \"x\", ".into();
    let e = fetch_snapshot(&source(Value::Null), &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::Malformed);
    assert!(e.call.as_deref().unwrap().contains("/members?briefRepresentation=true&first=0&max=100"), "{e}");

    let mut kc = FakeKeycloak::expense();
    kc.fault("/roles?", None, 200, 1).body = "{\"roles\": []}".into();
    let e = fetch_snapshot(&source(Value::Null), &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::Shape);
    assert!(e.message.contains("array"), "{e}");

    let mut kc = FakeKeycloak::expense();
    kc.fault("/acme/users?", None, 200, 1).body = "[{\"id\": \"u1\", \"enabled\": true}]".into();
    let e = fetch_snapshot(&source(Value::Null), &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::Shape);
    assert!(e.message.contains("username"), "{e}");
}

#[test]
fn nested_groups_three_deep() {
    let mut kc = FakeKeycloak::expense();
    kc.group("/org/finance/approvers", &["fin.ana"]);
    kc.group("/org/finance", &["dora"]);
    kc.group("/org", &["sam"]);
    kc.group("/org/sales/emea", &["mia"]);
    let all = fetch_snapshot(&source(Value::Null), &mut kc).unwrap().snapshot;
    assert_eq!(ids(all.groups.get("/org")), ["sam"]);
    assert_eq!(ids(all.groups.get("/org/finance")), ["dora"]);
    assert_eq!(ids(all.groups.get("/org/finance/approvers")), ["fin.ana"]);
    assert_eq!(ids(all.groups.get("/org/sales/emea")), ["mia"]);

    // A listed subtree: that group and everything below it, nothing above or beside.
    let mut kc2 = FakeKeycloak::expense();
    kc2.group("/org/finance/approvers", &["fin.ana"]);
    kc2.group("/org/finance", &["dora"]);
    kc2.group("/org", &["sam"]);
    kc2.group("/org/sales/emea", &["mia"]);
    let some = fetch_snapshot(&source(serde_json::json!({"groups": ["/org/finance"]})), &mut kc2).unwrap().snapshot;
    assert_eq!(some.groups.keys().collect::<Vec<_>>(), ["/org/finance", "/org/finance/approvers"]);
    assert_eq!(kc2.calls_to("/members"), 2, "members only of copied groups");

    let e = fetch_snapshot(&source(serde_json::json!({"groups": ["/org/legal"]})), &mut FakeKeycloak::expense()).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::NotFound);
    assert!(e.message.contains("/org/legal"));
}

#[test]
fn a_role_held_via_a_group_reaches_its_members_and_subgroup_members() {
    let mut kc = FakeKeycloak::expense();
    let finance = kc.group("/finance", &["mia"]);
    kc.role("finance-director", &["dora"], &[finance]);
    let got = fetch_snapshot(&source(serde_json::json!({"realm_roles": ["finance-director"], "groups": []})), &mut kc).unwrap();
    let s = &got.snapshot;
    assert_eq!(ids(s.roles.get("finance-director")), ["dora", "fin.ana", "fin.ben", "fin.cy", "mia"]);
    assert!(s.groups.is_empty(), "groups: [] copies no groups, yet roles via groups still resolve");
    assert_eq!(kc.calls_to("/roles?"), 0, "a listed role needs no role listing");
}

#[test]
fn client_roles_are_named_client_colon_role() {
    let mut kc = FakeKeycloak::expense();
    let approvers = kc.group("/finance/approvers", &[]);
    let mut roles = BTreeMap::new();
    roles.insert("approver".to_string(), Role { users: vec![kc.uid("mia")], groups: vec![approvers] });
    roles.insert("auditor".to_string(), Role { users: vec![kc.uid("sam")], groups: vec![] });
    kc.clients.push(Client { uuid: "c-1".into(), client_id: "expense-app".into(), roles });
    let s = fetch_snapshot(&source(serde_json::json!({"realm_roles": [], "client_roles": {"expense-app": "all"}})), &mut kc).unwrap().snapshot;
    assert_eq!(ids(s.roles.get("expense-app:approver")), ["fin.ana", "fin.ben", "fin.cy", "mia"]);
    assert_eq!(ids(s.roles.get("expense-app:auditor")), ["sam"]);
    assert_eq!(s.roles.len(), 2);

    let e = fetch_snapshot(&source(serde_json::json!({"client_roles": {"nope": "all"}})), &mut FakeKeycloak::expense()).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::NotFound);
}

#[test]
fn disabled_users_are_left_out_or_copied_inactive() {
    let mut kc = FakeKeycloak::expense();
    let ben = kc.uid("fin.ben");
    kc.users[ben].enabled = false;
    let got = fetch_snapshot(&source(Value::Null), &mut kc).unwrap();
    assert!(!got.snapshot.principals.contains_key("fin.ben"));
    assert_eq!(ids(got.snapshot.groups.get("/finance/approvers")), ["fin.ana", "fin.cy"]);
    assert_eq!((got.stats.disabled_skipped, got.stats.skipped_members), (1, 0));

    let mut kc = FakeKeycloak::expense();
    kc.users[ben].enabled = false;
    let got = fetch_snapshot(&source(serde_json::json!({"include_disabled": true})), &mut kc).unwrap();
    assert!(!got.snapshot.principals["fin.ben"].active);
    assert_eq!(ids(got.snapshot.groups.get("/finance/approvers")), ["fin.ana", "fin.ben", "fin.cy"]);
}

#[test]
fn service_accounts_holding_roles_are_skipped_and_counted() {
    let mut kc = FakeKeycloak::expense();
    let sa = kc.user("service-account-awe-sync");
    kc.users[sa].service_account = true;
    kc.role("finance-director", &["dora", "service-account-awe-sync"], &[]);
    let got = fetch_snapshot(&source(Value::Null), &mut kc).unwrap();
    assert_eq!(ids(got.snapshot.roles.get("finance-director")), ["dora"]);
    assert_eq!(got.stats.skipped_members, 1);
    assert!(!got.snapshot.principals.contains_key("service-account-awe-sync"));
}

#[test]
fn principal_ids_and_attributes_follow_the_options() {
    let mut kc = FakeKeycloak::expense();
    let ana = kc.uid("fin.ana");
    kc.users[ana].attributes.insert("department".into(), vec!["finance".into(), "audit".into()]);
    kc.users[ana].attributes.insert("ignored".into(), vec!["x".into()]);
    let got = fetch_snapshot(&source(serde_json::json!({"principal_id": "id", "attributes": ["department", "costCenter"]})), &mut kc).unwrap();
    let ana_id = kc.users[ana].id.clone();
    let rec = &got.snapshot.principals[&ana_id];
    assert_eq!(Value::Object(rec.attributes.clone()), serde_json::json!({"department": "finance"}));
    assert_eq!(rec.display_name.as_deref(), Some("fin ana"));
    assert!(got.snapshot.groups["/finance/approvers"].contains(&ana_id));
    assert_eq!(kc.calls_to("/acme/users?briefRepresentation=false"), 1, "attributes need the full representation");
}

#[test]
fn wrong_credentials_and_missing_names_fail_without_retrying() {
    let mut kc = FakeKeycloak::expense();
    let mut src = source(Value::Null);
    src.client_secret = "wrong".into();
    let e = fetch_snapshot(&src, &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::AuthFailed);
    assert!(e.message.contains("invalid_client"), "{e}");
    assert!(!e.to_string().contains("wrong"), "the secret is never shown");
    assert_eq!(e.http_calls, 1);

    let e = fetch_snapshot(&source(serde_json::json!({"realm_roles": ["no-such-role"]})), &mut FakeKeycloak::expense()).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::NotFound);
    assert!(e.call.unwrap().contains("/roles/no-such-role/users"));

    let mut kc = FakeKeycloak::expense();
    kc.fault("/users", None, 403, 1);
    let e = fetch_snapshot(&source(Value::Null), &mut kc).unwrap_err();
    assert_eq!(e.code, SyncErrorCode::Forbidden);
    assert!(e.message.contains("view-users"));
}

#[test]
fn role_and_group_names_awe_cannot_store_are_skipped_with_a_warning() {
    let mut kc = FakeKeycloak::expense();
    kc.role("Finance Director", &["dora"], &[]);
    let long = "g".repeat(600);
    kc.group(&format!("/{long}"), &["sam"]);
    let got = fetch_snapshot(&source(Value::Null), &mut kc).unwrap();
    assert!(got.snapshot.validate().is_empty());
    assert_eq!(got.stats.warnings.len(), 2, "{:?}", got.stats.warnings);
    assert!(got.stats.warnings.iter().any(|w| w.contains("Finance Director")));
}

#[test]
fn a_resync_of_an_unchanged_realm_diffs_empty_and_a_change_diffs_small() {
    use crate::directory_sync::diff;
    let first = fetch_snapshot(&source(Value::Null), &mut FakeKeycloak::expense()).unwrap().snapshot;
    let again = fetch_snapshot(&source(Value::Null), &mut FakeKeycloak::expense()).unwrap().snapshot;
    assert!(diff(&first, &again).is_empty());
    let mut kc = FakeKeycloak::expense();
    let g = kc.groups.iter().position(|g| g.name == "approvers").unwrap();
    let ben = kc.uid("fin.ben");
    kc.groups[g].members.retain(|m| *m != ben);
    let changed = fetch_snapshot(&source(Value::Null), &mut kc).unwrap().snapshot;
    let d = diff(&first, &changed);
    assert_eq!(d.memberships_remove.len(), 1);
    assert_eq!(d.counts().removed, 1);
    assert!(d.insert.is_empty() && d.update.is_empty() && d.deactivate.is_empty());
}
