"""A webhook receiver for the demo: verifies Standard Webhooks signatures
with the endpoint secret and appends one JSON line per webhook to a log.
Usage: receiver.py <port> <secret-file> <log-file>"""
import base64, hashlib, hmac, http.server, json, sys, time

port, secret_file, log_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]

def verified(headers, body):
    secret = open(secret_file).read().strip()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) < 300
    return fresh and any(s.split(",", 1)[1] == want for s in headers["webhook-signature"].split())

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        event = json.loads(body)
        with open(log_file, "a") as f:
            f.write(json.dumps({"webhook_id": self.headers["webhook-id"], "verified": verified(self.headers, body),
                                "type": event["type"], "seq": event["data"]["seq"], "status": event["data"]["status"],
                                "stage": event["data"]["stage"], "actor": event["data"]["actor"],
                                "request_id": event["data"]["request_id"]}) + "\n")
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
