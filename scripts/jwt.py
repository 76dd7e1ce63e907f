"""HS256 JWTs for local use. As a command: jwt.py <secret> '<claims json>'."""
import base64, hashlib, hmac, json, sys, time


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(secret, claims):
    claims = dict(claims)
    claims.setdefault("exp", int(time.time()) + 3600)
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(hmac.new(secret.encode(), f'{head}.{body}'.encode(), hashlib.sha256).digest())}"


if __name__ == "__main__":
    print(token(sys.argv[1], json.loads(sys.argv[2])))
