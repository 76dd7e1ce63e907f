#!/usr/bin/env python3
"""A Keycloak stand-in for awe's directory-sync tests and benchmarks.

README
======

What it is
----------
A single-file HTTP server (Python 3.11 standard library only: ``http.server``
with ``ThreadingHTTPServer``) that answers the part of the Keycloak Admin
REST API awe's directory sync reads (``core/src/keycloak.rs``), with
Keycloak's paths, JSON field names and types, paging and error statuses, plus
a control API to script faults and directory changes during a test. It is
not Keycloak: no login, no admin console, no writes through the Admin API.

    python3 tests/standins/keycloak.py --seed big --port 0
    # prints "listening on 127.0.0.1:PORT" once ready

Options: ``--port`` (0 = a free port), ``--host`` (default 127.0.0.1),
``--seed big|expense|empty`` (default expense), ``--seed-file F`` (a JSON file
in the shape ``GET /__dump`` returns; overrides ``--seed``), ``--realm-export F``
(a Keycloak realm export such as docker/keycloak/realm-awe.json: its users,
groups, roles and confidential clients; overrides both), ``--realm``
(default ``acme``), ``--client-id``/``--client-secret`` (the confidential
client with a service account; default ``awe-sync``/``awe-sync-secret``),
``--token-lifespan`` seconds (default 300, Keycloak's default access-token
lifespan), ``--log`` (one line per request on stderr).

Which Keycloak
--------------
Keycloak 26 (checked against the 26.6 OpenAPI document and the 26.x sources
of ``GroupsResource``, ``GroupResource``, ``RoleContainerResource``,
``UsersResource``, ``ModelToRepresentation``, ``GroupUtils`` and
``ClientIdAndSecretAuthenticator``). Documentation used:

- https://www.keycloak.org/docs-api/latest/rest-api/index.html
- https://www.keycloak.org/docs-api/26.3.4/javadocs/org/keycloak/services/resources/admin/GroupsResource.html
- https://www.keycloak.org/docs-api/latest/javadocs/org/keycloak/services/resources/admin/GroupResource.html
- https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/services/resources/admin/RoleContainerResource.java
- https://github.com/keycloak/keycloak/blob/main/services/src/main/java/org/keycloak/utils/GroupUtils.java
- https://github.com/keycloak/keycloak/issues/49625 (token endpoint error codes)

Implemented endpoints
---------------------
``POST /realms/{realm}/protocol/openid-connect/token``
    ``grant_type=client_credentials`` with ``client_id``/``client_secret`` in
    the form or an HTTP Basic header. Answers ``{access_token, expires_in,
    refresh_expires_in: 0, token_type: "Bearer", not-before-policy: 0,
    scope}``. A wrong secret or unknown client: 401 ``{"error":
    "invalid_client", "error_description": "Invalid client or Invalid client
    credentials"}`` (Keycloak before ~26.x said ``unauthorized_client`` for a
    wrong secret); another grant type: 400 ``unsupported_grant_type``; an
    unknown realm: 404 ``{"error": "Realm does not exist"}``.
``GET /admin/realms/{realm}/users``
    ``first`` (default 0), ``max`` (default 100), ``briefRepresentation``
    (default false; brief leaves out ``attributes``, ``totp``,
    ``requiredActions``, ``notBefore``, ``disableableCredentialTypes``),
    ``username``/``email``/``search`` substring filters and ``exact``,
    ``enabled``. Ordered by username; service-account users are left out, as
    Keycloak does.
``GET /admin/realms/{realm}/users/count``
    The number of users that list shows (service accounts left out); awe
    asks before and after listing to notice users deleted mid-listing.
``GET /admin/realms/{realm}/groups``
    Top-level groups only, ordered by name, each with ``subGroupCount``
    (``subGroupsCount``, default true) and an empty ``subGroups`` (since
    Keycloak 23 sub-groups are filled only for ``search``/``q``).
    ``briefRepresentation`` defaults to true (full adds ``attributes``,
    ``realmRoles``, ``clientRoles``). ``first``/``max`` page only when given:
    without them every top-level group comes back.
``GET /admin/realms/{realm}/groups/{id}``, ``…/groups/{id}/children``, ``…/groups/{id}/members``
    ``children``: ``first`` 0, ``max`` default **10**, brief default false,
    ordered by name, each with ``subGroupCount`` and ``parentId``.
    ``members``: ``first`` 0, ``max`` default 100, brief default false,
    ordered by username, direct members only.
``GET /admin/realms/{realm}/roles`` and ``…/roles/{role}``
    Realm roles ordered by name; paged only when both ``first`` and ``max`` are
    given (otherwise all), brief default true.
``GET /admin/realms/{realm}/roles/{role}/users`` and ``…/roles/{role}/groups``
    Direct holders only (users: ``max`` default 100, brief default false;
    groups: ``max`` default 100, brief default true, no ``subGroupCount``).
    Users holding the role through a group or a composite are not listed,
    exactly like Keycloak; role-users can include service-account users.
``GET /admin/realms/{realm}/clients``
    ``clientId`` (exact), ``first``, ``max``; then
    ``…/clients/{uuid}/roles``, ``…/clients/{uuid}/roles/{role}``,
    ``…/clients/{uuid}/roles/{role}/users`` and ``…/groups`` as for realm roles.

Every admin call needs ``Authorization: Bearer <token>`` from this server
for that realm: missing, unknown or expired tokens get 401 ``{"error": "HTTP
401 Unauthorized"}``. Unknown realms: 404 ``{"error": "Realm not found."}``;
unknown groups, roles and clients: 404 ``{"error": "Could not find …",
"error_description": "For more on this error consult the server log."}``.

Where it differs from Keycloak (simplified, said plainly)
---------------------------------------------------------
- Tokens are opaque-looking JWT strings with a readable payload but a random
  signature; nothing verifies them except this server.
- Any valid token may read everything: the ``realm-management`` roles
  (``view-users``, ``query-groups``, ``view-clients``…) are present in the
  data but not enforced. Script a 403 with ``fail_page`` instead.
- ``search``/``q`` on ``/groups`` and the ``search`` of role and client lists
  are not implemented (400). User ``q`` attribute search is not implemented.
- No composite roles: ``default-roles-<realm>`` is an ordinary role that every
  user holds directly (as Keycloak maps it to new users); its composites
  ``offline_access`` and ``uma_authorization`` have no direct holders.
- ``createdTimestamp`` and ids are generated deterministically from the seed.
- Faults are applied before the token check, like a proxy in front of
  Keycloak would (a rate limiter answers 429 whoever calls).

Control API (not Keycloak)
--------------------------
``POST /__control`` with a JSON object; several keys may be sent at once.
Unknown keys are a 400. Answers ``{"ok": true, "applied": [...]}``.

- ``{"fail_page": {"path_contains": "/users", "first": 200, "status": 500,
  "times": 3}}``: the next ``times`` (default 1) requests whose path and query
  contain ``path_contains`` and, if given, whose ``first`` equals ``first``,
  are answered ``status`` with ``{"error": "…"}``.
- ``{"token_ttl_requests": 10}``: every token (live ones included) expires
  after 10 more admin calls; ``null`` lifts the limit.
- ``{"delay_ms": 200}``: every later request waits that long first.
- ``{"malformed": {"path_contains": "/groups", "times": 1}}``: those answers
  are cut in the middle of their JSON body (status 200).
- ``{"rate_limit": {"status": 429, "retry_after": "1", "times": 2,
  "path_contains": "/users"}}``: those requests are answered ``status`` with
  that ``Retry-After`` (omit it for none); ``path_contains`` defaults to all.
- ``{"remove_user_from_group": {"user": "fin.ben", "group":
  "/finance/approvers"}}``, ``{"add_user_to_group": {…}}``: ``user`` is a
  username or user id, ``group`` a path or group id.
- ``{"disable_user": "fin.ben"}``, ``{"enable_user": "fin.ben"}``,
  ``{"delete_user": "fin.ben"}``.
- ``{"grant_role": {"user": "mia", "role": "finance-director"}}``,
  ``{"revoke_role": {…}}`` (realm roles, direct grants).
- ``{"reset": true}``: back to the seed data, no faults, counters zeroed.

``GET /__stats``: ``{"total", "by_path": {"GET /admin/realms/acme/users":
51, …}, "by_status": {"200": …}, "tokens_issued"}`` (paths without query).
``GET /__dump``: the current data, in the ``--seed-file`` shape.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import random
import secrets
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_MAX = 100  # Constants.DEFAULT_MAX_RESULTS
CHILDREN_DEFAULT_MAX = 10  # GroupResource.getSubGroups @DefaultValue("10")
MORE = "For more on this error consult the server log."


# ---------------------------------------------------------------- seed data

def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _user(rng, username, first, last, enabled=True, attributes=None, service_account_client=None):
    u = {
        "id": _uuid(rng),
        "username": username,
        "firstName": first,
        "lastName": last,
        "email": f"{username}@example.com" if not service_account_client else None,
        "emailVerified": False,
        "enabled": enabled,
        "createdTimestamp": 1_700_000_000_000 + rng.randrange(10**9),
        "attributes": attributes or {},
    }
    if service_account_client:
        u["serviceAccountClientId"] = service_account_client
    return u


def _base_realm(rng, realm, client_id, client_secret):
    """The parts every seed shares: the sync client with its service account,
    realm-management roles, and Keycloak's built-in realm roles."""
    sa = _user(rng, f"service-account-{client_id}", None, None, service_account_client=client_id)
    data = {
        "realm": realm,
        "users": [sa],
        "groups": [],
        "roles": {},
        "clients": [
            {"id": _uuid(rng), "clientId": client_id, "secret": client_secret, "serviceAccountsEnabled": True,
             "publicClient": False, "roles": {}},
            {"id": _uuid(rng), "clientId": "realm-management", "secret": None, "serviceAccountsEnabled": False,
             "publicClient": False,
             "roles": {r: {"id": _uuid(rng), "users": [sa["id"]], "groups": []}
                       for r in ("view-users", "query-groups", "view-realm", "view-clients")}},
        ],
    }
    for name in (f"default-roles-{realm.lower()}", "offline_access", "uma_authorization"):
        data["roles"][name] = {"id": _uuid(rng), "description": None, "users": [], "groups": []}
    data["roles"][f"default-roles-{realm.lower()}"]["users"].append(sa["id"])
    return data


def _add_group(rng, data, path, members=()):
    """Creates the group at `path` (and missing ancestors); returns it."""
    parent = None
    for name in path.strip("/").split("/"):
        found = next((g for g in data["groups"] if g["name"] == name and g["parentId"] == (parent and parent["id"])), None)
        if not found:
            found = {"id": _uuid(rng), "name": name, "parentId": parent and parent["id"], "members": [], "attributes": {}}
            data["groups"].append(found)
        parent = found
    parent["members"].extend(m for m in members if m not in parent["members"])
    return parent


def _role(rng, data, name, users=(), groups=(), description=None):
    data["roles"][name] = {"id": _uuid(rng), "description": description, "users": list(users), "groups": list(groups)}


def seed_expense(realm, client_id, client_secret):
    rng = random.Random(7)
    data = _base_realm(rng, realm, client_id, client_secret)
    people = [
        ("sam", "Sam", "Submitter", {"title": ["Engineer"], "manager": ["mia"]}),
        ("mia", "Mia", "Manager", {"title": ["Engineering manager"]}),
        ("fin.ana", "Ana", "Fink", {"title": ["Finance approver"]}),
        ("fin.ben", "Ben", "Fink", {"title": ["Finance approver"]}),
        ("fin.cy", "Cy", "Fink", {"title": ["Finance approver"]}),
        ("dora", "Dora", "Director", {"title": ["Finance director"]}),
    ]
    ids = {}
    for username, first, last, attrs in people:
        u = _user(rng, username, first, last, attributes=attrs)
        data["users"].append(u)
        ids[username] = u["id"]
    data["roles"][f"default-roles-{realm.lower()}"]["users"].extend(ids.values())
    _add_group(rng, data, "/finance/approvers", [ids["fin.ana"], ids["fin.ben"], ids["fin.cy"]])
    _role(rng, data, "finance-director", [ids["dora"]], description="Escalations of expense approvals")
    return data


FIRST = ["Ada", "Ben", "Cy", "Dana", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lea", "Max", "Nia", "Oto",
         "Pia", "Quin", "Rui", "Sia", "Tom", "Uma", "Vic", "Wes", "Xia", "Yan", "Zoe"]
LAST = ["Abbott", "Berg", "Costa", "Diaz", "Eriksen", "Fox", "Garcia", "Holm", "Ito", "Jensen", "Kim", "Lund",
        "Moreau", "Nagy", "Olsen", "Park", "Quist", "Rossi", "Silva", "Tanaka", "Ueda", "Vidal", "Weber", "Young"]
TREE = {  # 4 top-level groups, 12 children, 44 grandchildren: 60 groups, 3 deep
    "finance": {"approvers": ["emea", "americas", "apac", "global"], "controllers": ["emea", "americas", "apac", "global"],
                "accounting": ["payables", "receivables", "payroll"]},
    "sales": {"emea": ["nordics", "dach", "france", "uk"], "americas": ["east", "west", "latam", "canada"],
              "apac": ["japan", "anz", "sea"]},
    "engineering": {"platform": ["storage", "network", "compute", "observability"],
                    "product": ["web", "mobile", "api", "search"], "security": ["appsec", "infra", "response"]},
    "operations": {"facilities": ["berlin", "lisbon", "austin", "tokyo"], "it": ["helpdesk", "devices", "identity", "saas"],
                   "legal": ["contracts", "privacy", "compliance"]},
}


def seed_big(realm, client_id, client_secret):
    """5,000 users (every 50th disabled), 60 groups nested 3 deep, realm roles
    `finance-director` (3 direct holders), `approver` (1,200 direct holders),
    `finance-staff` (held only via the /finance group and its sub-groups),
    `auditor` (direct holders and a group), and a client `expense-app` with
    roles `approver` and `submitter`. Deterministic."""
    rng = random.Random(42)
    data = _base_realm(rng, realm, client_id, client_secret)
    users = []
    for i in range(5000):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        username = f"{first.lower()}.{last.lower()}.{i:04d}"
        attrs = {"department": [rng.choice(list(TREE))], "costCenter": [f"CC{rng.randrange(100, 999)}"],
                 "employeeNumber": [f"E{i:05d}"]}
        users.append(_user(rng, username, first, last, enabled=(i % 50 != 49), attributes=attrs))
    data["users"].extend(users)
    data["roles"][f"default-roles-{realm.lower()}"]["users"].extend(u["id"] for u in users)
    leaves, middles = [], []
    for top, children in TREE.items():
        _add_group(rng, data, f"/{top}")
        for child, grandchildren in children.items():
            middles.append(_add_group(rng, data, f"/{top}/{child}"))
            for gc in grandchildren:
                leaves.append(_add_group(rng, data, f"/{top}/{child}/{gc}"))
    for u in users:
        rng.choice(leaves)["members"].append(u["id"])
        if rng.random() < 0.2:
            rng.choice(middles)["members"].append(u["id"])
    by_path = {_path(data, g): g for g in data["groups"]}
    approvers = rng.sample(users, 1200)
    _role(rng, data, "approver", [u["id"] for u in approvers])
    _role(rng, data, "finance-director", [users[7]["id"], users[1234]["id"], users[4321]["id"]])
    _role(rng, data, "finance-staff", [], [by_path["/finance"]["id"]])
    _role(rng, data, "auditor", [u["id"] for u in rng.sample(users, 25)], [by_path["/finance/controllers/global"]["id"]])
    data["clients"].append({
        "id": _uuid(rng), "clientId": "expense-app", "secret": None, "serviceAccountsEnabled": False, "publicClient": True,
        "roles": {
            "approver": {"id": _uuid(rng), "users": [u["id"] for u in rng.sample(users, 50)],
                         "groups": [by_path["/finance/approvers"]["id"]]},
            "submitter": {"id": _uuid(rng), "users": [u["id"] for u in users[:300]], "groups": []},
        },
    })
    return data


def seed_realm_export(path):
    """A Keycloak realm export (the JSON `kc.sh export` writes and
    `--import-realm` reads, as in docker/keycloak/realm-awe.json): its users
    with their groups, realm roles and client roles, its groups with
    sub-groups, realm roles and confidential clients. Only what the Admin
    API reads here is taken; the rest (mappers, scope mappings, credentials)
    is ignored."""
    with open(path) as f:
        exp = json.load(f)
    rng = random.Random(11)
    data = {"realm": exp["realm"], "users": [], "groups": [], "roles": {}, "clients": []}

    def role(container, name, description=None):
        return container.setdefault(name, {"id": _uuid(rng), "description": description, "users": [], "groups": []})

    for r in exp.get("roles", {}).get("realm", []):
        role(data["roles"], r["name"], r.get("description"))

    def client(client_id):
        c = next((c for c in data["clients"] if c["clientId"] == client_id), None)
        if not c:
            c = {"id": _uuid(rng), "clientId": client_id, "secret": None, "serviceAccountsEnabled": False,
                 "publicClient": False, "roles": {}}
            data["clients"].append(c)
        return c

    for c in exp.get("clients", []):
        x = client(c["clientId"])
        x.update({"secret": c.get("secret"), "serviceAccountsEnabled": c.get("serviceAccountsEnabled", False),
                  "publicClient": c.get("publicClient", False)})
    for client_id, roles in exp.get("roles", {}).get("client", {}).items():
        for r in roles:
            role(client(client_id)["roles"], r["name"], r.get("description"))

    def groups(items):
        for g in items:
            _add_group(rng, data, g["path"])
            groups(g.get("subGroups", []))

    groups(exp.get("groups", []))
    for u in exp.get("users", []):
        rep = _user(rng, u["username"], u.get("firstName"), u.get("lastName"), u.get("enabled", True),
                    u.get("attributes"), u.get("serviceAccountClientId"))
        rep["email"] = u.get("email")
        data["users"].append(rep)
        for g in u.get("groups", []):
            _add_group(rng, data, g, [rep["id"]])
        for r in u.get("realmRoles", []):
            role(data["roles"], r)["users"].append(rep["id"])
        for client_id, roles in u.get("clientRoles", {}).items():
            for r in roles:
                role(client(client_id)["roles"], r)["users"].append(rep["id"])
    return data


def _path(data, g):
    parts = []
    by_id = {x["id"]: x for x in data["groups"]}
    while g:
        # Keycloak 23+ escapes "/" inside a group name as "~/" in paths.
        parts.append(g["name"].replace("/", "~/"))
        g = by_id.get(g["parentId"])
    return "/" + "/".join(reversed(parts))


# --------------------------------------------------------------- the realm

class ApiError(Exception):
    def __init__(self, status, body, headers=()):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, list(headers)


def not_found(what):
    return ApiError(404, {"error": f"Could not find {what}", "error_description": MORE})


class Realm:
    """The data and every index the handlers need, guarded by one lock."""

    def __init__(self, data, token_lifespan):
        self.seed = copy.deepcopy(data)
        self.token_lifespan = token_lifespan
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.data = copy.deepcopy(self.seed)
        self.tokens = {}  # token -> {"exp": unix seconds, "left": admin calls or None}
        self.token_ttl_requests = None
        self.delay_ms = 0
        self.fail_pages, self.malformed, self.rate_limits = [], [], []
        self.stats = {"total": 0, "by_path": {}, "by_status": {}, "tokens_issued": 0}
        self.reindex()

    def reindex(self):
        d = self.data
        self.users = {u["id"]: u for u in d["users"]}
        self.groups = {g["id"]: g for g in d["groups"]}
        self.children = {}
        for g in d["groups"]:
            self.children.setdefault(g["parentId"], []).append(g)
        for kids in self.children.values():
            kids.sort(key=lambda g: g["name"])
        self.paths = {g["id"]: _path(d, g) for g in d["groups"]}
        self.by_path = {p: self.groups[i] for i, p in self.paths.items()}

    # Representations -------------------------------------------------------

    def user_rep(self, u, brief):
        rep = {"id": u["id"], "username": u["username"], "createdTimestamp": u["createdTimestamp"],
               "enabled": u["enabled"], "emailVerified": u.get("emailVerified", False)}
        for k in ("firstName", "lastName", "email"):
            if u.get(k) is not None:
                rep[k] = u[k]
        if u.get("serviceAccountClientId"):
            rep["serviceAccountClientId"] = u["serviceAccountClientId"]
        if not brief:
            rep.update({"totp": False, "disableableCredentialTypes": [], "requiredActions": [], "notBefore": 0})
            if u.get("attributes"):
                rep["attributes"] = u["attributes"]
        return rep

    def group_rep(self, g, brief, sub_group_count, access=True):
        rep = {"id": g["id"], "name": g["name"], "path": self.paths[g["id"]]}
        if g["parentId"]:
            rep["parentId"] = g["parentId"]
        if sub_group_count:
            rep["subGroupCount"] = len(self.children.get(g["id"], []))
        rep["subGroups"] = []
        if not brief:
            rep["attributes"] = g.get("attributes", {})
            rep["realmRoles"] = sorted(n for n, r in self.data["roles"].items() if g["id"] in r["groups"])
            client_roles = {}
            for c in self.data["clients"]:
                names = sorted(n for n, r in c["roles"].items() if g["id"] in r["groups"])
                if names:
                    client_roles[c["clientId"]] = names
            rep["clientRoles"] = client_roles
        if access:
            rep["access"] = {"view": True, "viewMembers": True, "manageMembers": False, "manage": False,
                             "manageMembership": False}
        return rep

    def role_rep(self, name, r, brief, container_id, client_role):
        rep = {"id": r["id"], "name": name, "composite": name.startswith("default-roles-"), "clientRole": client_role,
               "containerId": container_id}
        if r.get("description"):
            rep["description"] = r["description"]
        if not brief:
            rep["attributes"] = {}
        return rep

    def sorted_users(self, ids):
        return sorted((self.users[i] for i in ids if i in self.users), key=lambda u: u["username"])

    # Lookups for the control API -------------------------------------------

    def find_user(self, ref):
        u = self.users.get(ref) or next((u for u in self.data["users"] if u["username"] == ref), None)
        if not u:
            raise ApiError(400, {"error": f"no user {ref!r}"})
        return u

    def find_group(self, ref):
        g = self.groups.get(ref) or self.by_path.get(ref)
        if not g:
            raise ApiError(400, {"error": f"no group {ref!r}"})
        return g


def page(items, q, default_max, default_first=0):
    """Keycloak's first/max: a negative or missing value means the default
    (None = no limit)."""
    first = _int(q, "first", default_first)
    mx = _int(q, "max", default_max)
    first = max(first or 0, 0)
    if mx is None or mx < 0:
        return items[first:]
    return items[first:first + mx]


def _int(q, key, default):
    if key not in q:
        return default
    try:
        return int(q[key])
    except ValueError:
        raise ApiError(400, {"error": f"invalid {key}", "error_description": MORE})


def _bool(q, key, default):
    return q[key].lower() == "true" if key in q else default


# --------------------------------------------------------------- handlers

def handle_token(realm, realm_name, headers, body):
    if realm_name != realm.data["realm"]:
        raise ApiError(404, {"error": "Realm does not exist"})
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    auth = headers.get("Authorization", "")
    if auth.startswith("Basic "):
        try:
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            client_id, client_secret = unquote(cid), unquote(secret)
        except Exception:
            pass
    if form.get("grant_type") != "client_credentials":
        raise ApiError(400, {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type"})
    if not client_id:
        raise ApiError(400, {"error": "invalid_client", "error_description": "Missing client_id parameter"})
    client = next((c for c in realm.data["clients"] if c["clientId"] == client_id), None)
    if not client or client.get("publicClient") or client.get("secret") != client_secret:
        raise ApiError(401, {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"})
    if not client.get("serviceAccountsEnabled"):
        raise ApiError(400, {"error": "unauthorized_client",
                             "error_description": "Client not enabled to retrieve service account"})
    sa = next(u for u in realm.data["users"] if u.get("serviceAccountClientId") == client_id)
    now = int(time.time())
    payload = {"exp": now + realm.token_lifespan, "iat": now, "jti": str(uuid.uuid4()),
               "iss": f"/realms/{realm_name}", "sub": sa["id"], "typ": "Bearer", "azp": client_id,
               "preferred_username": sa["username"], "scope": "profile email"}
    b64 = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
    token = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(payload)}.{secrets.token_urlsafe(32)}"
    realm.tokens[token] = {"exp": payload["exp"], "left": realm.token_ttl_requests}
    realm.stats["tokens_issued"] += 1
    return 200, {"access_token": token, "expires_in": realm.token_lifespan, "refresh_expires_in": 0,
                 "token_type": "Bearer", "not-before-policy": 0, "scope": "profile email"}


def check_bearer(realm, headers):
    auth = headers.get("Authorization", "")
    tok = realm.tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
    if not tok or tok["exp"] <= time.time() or tok["left"] == 0:
        raise ApiError(401, {"error": "HTTP 401 Unauthorized"})
    if tok["left"] is not None:
        tok["left"] -= 1


def role_members(realm, role, what, q):
    if what == "users":
        users = realm.sorted_users(role["users"])
        brief = _bool(q, "briefRepresentation", False)
        return [realm.user_rep(u, brief) for u in page(users, q, DEFAULT_MAX)]
    if what == "groups":
        groups = sorted((realm.groups[g] for g in role["groups"] if g in realm.groups), key=lambda g: realm.paths[g["id"]])
        brief = _bool(q, "briefRepresentation", True)
        return [realm.group_rep(g, brief, sub_group_count=False, access=False) for g in page(groups, q, DEFAULT_MAX)]
    raise ApiError(404, {"error": "Unable to find matching target resource method", "error_description": MORE})


def handle_admin(realm, seg, q):
    """seg: the path after /admin/realms/{realm}/, decoded."""
    d = realm.data
    match seg:
        case ["users"]:
            users = [u for u in d["users"] if not u.get("serviceAccountClientId")]
            exact = _bool(q, "exact", False)
            for key in ("username", "email", "firstName", "lastName"):
                if key in q:
                    want = q[key].lower()
                    users = [u for u in users if (u.get(key) or "").lower() == want or (not exact and want in (u.get(key) or "").lower())]
            if "search" in q:
                s = q["search"].strip("*").lower()
                users = [u for u in users if any(s in (u.get(k) or "").lower() for k in ("username", "email", "firstName", "lastName"))]
            if "enabled" in q:
                users = [u for u in users if u["enabled"] == _bool(q, "enabled", True)]
            if "q" in q:
                raise ApiError(400, {"error": "the stand-in does not implement q", "error_description": MORE})
            users.sort(key=lambda u: u["username"])
            brief = _bool(q, "briefRepresentation", False)
            return [realm.user_rep(u, brief) for u in page(users, q, DEFAULT_MAX)]
        case ["users", "count"]:
            return len([u for u in d["users"] if not u.get("serviceAccountClientId")])
        case ["users", uid]:
            u = realm.users.get(uid)
            if not u:
                raise ApiError(404, {"error": "User not found"})
            return realm.user_rep(u, False)
        case ["groups"]:
            if "search" in q or "q" in q:
                raise ApiError(400, {"error": "the stand-in does not implement group search", "error_description": MORE})
            tops = realm.children.get(None, [])
            brief = _bool(q, "briefRepresentation", True)
            count = _bool(q, "subGroupsCount", True)
            return [realm.group_rep(g, brief, count) for g in page(tops, q, None)]
        case ["groups", "count"]:
            top = _bool(q, "top", False)
            return {"count": len(realm.children.get(None, [])) if top else len(d["groups"])}
        case ["groups", gid, *rest]:
            g = realm.groups.get(gid)
            if not g:
                raise not_found("group by id")
            if rest == []:
                return realm.group_rep(g, False, True)
            if rest == ["children"]:
                if "search" in q:
                    raise ApiError(400, {"error": "the stand-in does not implement children search", "error_description": MORE})
                kids = realm.children.get(g["id"], [])
                brief = _bool(q, "briefRepresentation", False)
                return [realm.group_rep(k, brief, _bool(q, "subGroupsCount", True)) for k in page(kids, q, CHILDREN_DEFAULT_MAX)]
            if rest == ["members"]:
                brief = _bool(q, "briefRepresentation", False)
                return [realm.user_rep(u, brief) for u in page(realm.sorted_users(g["members"]), q, DEFAULT_MAX)]
        case ["roles"]:
            if q.get("search"):
                raise ApiError(400, {"error": "the stand-in does not implement role search", "error_description": MORE})
            roles = sorted(d["roles"].items())
            if "first" in q and "max" in q:
                roles = page(roles, q, None)
            brief = _bool(q, "briefRepresentation", True)
            return [realm.role_rep(n, r, brief, d["realm"], False) for n, r in roles]
        case ["roles", name, *rest]:
            r = d["roles"].get(name)
            if not r:
                raise not_found("role")
            if rest == []:
                return realm.role_rep(name, r, False, d["realm"], False)
            if len(rest) == 1:
                return role_members(realm, r, rest[0], q)
        case ["clients"]:
            clients = [c for c in d["clients"] if "clientId" not in q or c["clientId"] == q["clientId"]]
            return [{"id": c["id"], "clientId": c["clientId"], "name": c["clientId"], "enabled": True,
                     "publicClient": c.get("publicClient", False), "serviceAccountsEnabled": c.get("serviceAccountsEnabled", False),
                     "protocol": "openid-connect", "bearerOnly": False, "standardFlowEnabled": True,
                     "attributes": {}} for c in page(clients, q, None)]
        case ["clients", cid, "roles", *rest]:
            c = next((c for c in d["clients"] if c["id"] == cid), None)
            if not c:
                raise not_found("client")
            if rest == []:
                roles = sorted(c["roles"].items())
                if "first" in q and "max" in q:
                    roles = page(roles, q, None)
                brief = _bool(q, "briefRepresentation", True)
                return [realm.role_rep(n, r, brief, c["id"], True) for n, r in roles]
            r = c["roles"].get(rest[0])
            if not r:
                raise not_found("role")
            if len(rest) == 1:
                return realm.role_rep(rest[0], r, False, c["id"], True)
            if len(rest) == 2:
                return role_members(realm, r, rest[1], q)
    raise ApiError(404, {"error": "Unable to find matching target resource method", "error_description": MORE})


CONTROL_KEYS = {"fail_page", "token_ttl_requests", "delay_ms", "malformed", "rate_limit", "remove_user_from_group",
                "add_user_to_group", "disable_user", "enable_user", "delete_user", "grant_role", "revoke_role", "reset"}


def handle_control(realm, body):
    try:
        cmd = json.loads(body or "{}")
    except json.JSONDecodeError as e:
        raise ApiError(400, {"error": f"not JSON: {e}"})
    if not isinstance(cmd, dict):
        raise ApiError(400, {"error": "send a JSON object"})
    unknown = set(cmd) - CONTROL_KEYS
    if unknown:
        raise ApiError(400, {"error": f"unknown control keys {sorted(unknown)}; known: {sorted(CONTROL_KEYS)}"})
    applied = []
    if cmd.get("reset"):
        realm.reset()
        applied.append("reset")
    for key, v in cmd.items():
        if key == "reset":
            continue
        if key == "fail_page":
            realm.fail_pages.append({"path_contains": v.get("path_contains", ""), "first": v.get("first"),
                                     "status": int(v.get("status", 500)), "times": int(v.get("times", 1))})
        elif key == "token_ttl_requests":
            realm.token_ttl_requests = v
            for tok in realm.tokens.values():
                tok["left"] = v
        elif key == "delay_ms":
            realm.delay_ms = int(v)
        elif key == "malformed":
            realm.malformed.append({"path_contains": v.get("path_contains", ""), "times": int(v.get("times", 1))})
        elif key == "rate_limit":
            realm.rate_limits.append({"path_contains": v.get("path_contains", ""), "status": int(v.get("status", 429)),
                                      "retry_after": v.get("retry_after"), "times": int(v.get("times", 1))})
        elif key in ("remove_user_from_group", "add_user_to_group"):
            u, g = realm.find_user(v["user"]), realm.find_group(v["group"])
            if key == "remove_user_from_group":
                g["members"] = [m for m in g["members"] if m != u["id"]]
            elif u["id"] not in g["members"]:
                g["members"].append(u["id"])
        elif key in ("disable_user", "enable_user"):
            realm.find_user(v)["enabled"] = key == "enable_user"
        elif key == "delete_user":
            u = realm.find_user(v)
            realm.data["users"].remove(u)
            for g in realm.data["groups"]:
                g["members"] = [m for m in g["members"] if m != u["id"]]
            for roles in [realm.data["roles"]] + [c["roles"] for c in realm.data["clients"]]:
                for r in roles.values():
                    r["users"] = [m for m in r["users"] if m != u["id"]]
        elif key in ("grant_role", "revoke_role"):
            u = realm.find_user(v["user"])
            r = realm.data["roles"].get(v["role"])
            if r is None:
                raise ApiError(400, {"error": f"no realm role {v['role']!r}"})
            if key == "revoke_role":
                r["users"] = [m for m in r["users"] if m != u["id"]]
            elif u["id"] not in r["users"]:
                r["users"].append(u["id"])
        applied.append(key)
    realm.reindex()
    return 200, {"ok": True, "applied": applied}


def _take(rules, target, first):
    for rule in rules:
        if rule["times"] > 0 and rule["path_contains"] in target and (rule.get("first") is None or rule["first"] == first):
            rule["times"] -= 1
            return rule
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "keycloak-standin/26"
    protocol_version = "HTTP/1.1"
    # Keep-alive responses go out as header and body writes; without these
    # Nagle's algorithm meets the client's delayed ACK and every call
    # stalls ~40 ms.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    realm: Realm = None
    log = False

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        realm = self.realm
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        url = urlsplit(self.path)
        seg = [unquote(s) for s in url.path.strip("/").split("/")]
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        target = url.path + ("?" + url.query if url.query else "")
        if realm.delay_ms and not url.path.startswith("/__"):
            time.sleep(realm.delay_ms / 1000)
        status, payload, headers, cut = 500, None, [], False
        with realm.lock:
            if not url.path.startswith("/__"):
                realm.stats["total"] += 1
                key = f"{method} {url.path}"
                realm.stats["by_path"][key] = realm.stats["by_path"].get(key, 0) + 1
            try:
                status, payload, cut = self.route(realm, method, url.path, seg, q, body, target)
            except ApiError as e:
                status, payload, headers = e.status, e.body, e.headers
            except Exception as e:  # a bug here should look like a server error, not hang the client
                status, payload = 500, {"error": "unknown_error", "error_description": repr(e)}
            if not url.path.startswith("/__"):
                realm.stats["by_status"][str(status)] = realm.stats["by_status"].get(str(status), 0) + 1
        data = json.dumps(payload, separators=(",", ":")).encode()
        if cut:
            data = data[: max(1, len(data) // 2)]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def route(self, realm, method, path, seg, q, body, target):
        """Returns (status, payload, cut_body)."""
        if path == "/__control" and method == "POST":
            return (*handle_control(realm, body), False)
        if path == "/__stats" and method == "GET":
            return 200, realm.stats, False
        if path == "/__dump" and method == "GET":
            return 200, realm.data, False
        first = q.get("first")
        first = int(first) if first and first.lstrip("-").isdigit() else None
        rl = _take(realm.rate_limits, target, None)
        if rl:
            headers = [("Retry-After", str(rl["retry_after"]))] if rl.get("retry_after") is not None else []
            raise ApiError(rl["status"], {"error": "Too Many Requests" if rl["status"] == 429 else "Service Unavailable"}, headers)
        fp = _take(realm.fail_pages, target, first)
        if fp:
            raise ApiError(fp["status"], {"error": f"HTTP {fp['status']} (scripted by fail_page)", "error_description": MORE})
        cut = _take(realm.malformed, target, None) is not None
        if len(seg) == 5 and seg[0] == "realms" and seg[2:] == ["protocol", "openid-connect", "token"] and method == "POST":
            return (*handle_token(realm, seg[1], self.headers, body), cut)
        if len(seg) >= 3 and seg[:2] == ["admin", "realms"] and method == "GET":
            check_bearer(realm, self.headers)
            if seg[2] != realm.data["realm"]:
                raise ApiError(404, {"error": "Realm not found."})
            return 200, handle_admin(realm, seg[3:], q), cut
        raise ApiError(404, {"error": "Unable to find matching target resource method", "error_description": MORE})

    def log_message(self, fmt, *args):
        if self.log:
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))


def main(argv=None):
    p = argparse.ArgumentParser(description="Keycloak Admin API stand-in for awe's directory-sync tests (see the module docstring).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--seed", choices=["big", "expense", "empty"], default="expense")
    p.add_argument("--seed-file", help="a JSON file in the shape GET /__dump returns")
    p.add_argument("--realm-export", help="a Keycloak realm export (docker/keycloak/realm-awe.json); its realm name wins")
    p.add_argument("--realm", default="acme")
    p.add_argument("--client-id", default="awe-sync")
    p.add_argument("--client-secret", default="awe-sync-secret")
    p.add_argument("--token-lifespan", type=int, default=300, help="access token lifespan in seconds")
    p.add_argument("--log", action="store_true", help="log every request on stderr")
    a = p.parse_args(argv)
    if a.realm_export:
        data = seed_realm_export(a.realm_export)
    elif a.seed_file:
        with open(a.seed_file) as f:
            data = json.load(f)
    elif a.seed == "big":
        data = seed_big(a.realm, a.client_id, a.client_secret)
    elif a.seed == "expense":
        data = seed_expense(a.realm, a.client_id, a.client_secret)
    else:
        data = _base_realm(random.Random(1), a.realm, a.client_id, a.client_secret)
    Handler.realm = Realm(data, a.token_lifespan)
    Handler.log = a.log
    server = ThreadingHTTPServer((a.host, a.port), Handler)
    server.daemon_threads = True
    print(f"listening on {a.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
