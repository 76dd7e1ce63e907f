"""Full lifecycles through REST: a caller service submits, two approvers
decide, each with its own JWT, from N concurrent clients with keep-alive
connections. Prints lifecycles per second. Usage:
    rest_lifecycle.py <rest-url> <jwt-secret> <tenant> <clients> <seconds>
"""
import http.client, json, os, sys, threading, time, urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
import jwt  # noqa: E402  (scripts/jwt.py)

url, secret, tenant, clients, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])

def token(role, sub):
    return jwt.token(secret, {"role": role, "sub": sub, "tenant": tenant})

caller, ann, dee = token("awe_caller", "bench-app"), token("awe_approver", "ann"), token("awe_approver", "dee")
host = urllib.parse.urlparse(url).netloc
done, errors = [0] * clients, [0] * clients

def rpc(conn, tok, fn, args):
    conn.request("POST", f"/rpc/{fn}", json.dumps(args), {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"{fn}: {r.status} {body[:200]!r}")
    return json.loads(body)

def client(i):
    conn = http.client.HTTPConnection(host, timeout=30)
    deadline = time.time() + seconds
    n = 0
    while time.time() < deadline:
        try:
            r = rpc(conn, caller, "submit", {"policy_key": "bench.lifecycle", "artifact_type": "doc",
                                              "artifact_id": f"rest-{i}-{n}-{time.time_ns()}", "context": {"amount": 5}})
            r = rpc(conn, ann, "decide", {"task_id": r["tasks"][0]["task_id"], "decision": "approve"})
            r = rpc(conn, dee, "decide", {"task_id": r["tasks"][1]["task_id"], "decision": "approve"})
            assert r["status"] == "approved", r["status"]
            done[i] += 1
        except Exception as e:  # counted and reported, never hidden
            errors[i] += 1
            if errors[i] == 1:
                print(f"client {i}: {e}", file=sys.stderr)
            conn = http.client.HTTPConnection(host, timeout=30)
        n += 1

start = time.time()
threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
[t.start() for t in threads]
[t.join() for t in threads]
elapsed = time.time() - start
print(f"{sum(done) / elapsed:.2f} {sum(done)} {sum(errors)}")
