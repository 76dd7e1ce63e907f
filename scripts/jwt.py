"""Prints an HS256 JWT for local use: jwt.py <secret> '<claims json>'."""
import base64, hashlib, hmac, json, sys, time

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

secret, claims = sys.argv[1], json.loads(sys.argv[2])
claims.setdefault("exp", int(time.time()) + 3600)
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps(claims).encode())
print(f"{head}.{body}.{b64(hmac.new(secret.encode(), f'{head}.{body}'.encode(), hashlib.sha256).digest())}")
