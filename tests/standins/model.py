#!/usr/bin/env python3
"""A model-server stand-in for awe's summarizer tests.

README
======

What it is
----------
A single-file HTTP server (Python 3.11 standard library only: ``http.server``
with ``ThreadingHTTPServer``) that answers the two chat APIs awe's summarizer
speaks (``core/src/summarizer.rs``), in their documented request and response
shapes, error shapes included, with a deterministic answer instead of a
model. Neither Ollama nor a hosted model can run on awe's test machines; this
server lets the tests check what leaves the database, how answers are read,
and what happens when the model is slow, fails or talks nonsense. It is not a
model: it reads the request's data and writes three fixed-form lines about it.

    python3 tests/standins/model.py --port 0
    # prints "listening on 127.0.0.1:PORT" once ready

Options: ``--port`` (0 = a free port), ``--host`` (default 127.0.0.1),
``--require-token T`` (the OpenAI-compatible path then needs ``Authorization:
Bearer T``), ``--models a,b`` (only these model names exist; default: any
name), ``--log`` (one line per request on stderr).

Which APIs
----------
- Ollama's ``POST /api/chat`` (https://github.com/ollama/ollama/blob/main/docs/api.md,
  "Generate a chat completion"; errors as in https://docs.ollama.com/api/errors).
- OpenAI's ``POST /v1/chat/completions`` (https://platform.openai.com/docs/api-reference/chat/create;
  error object as in https://platform.openai.com/docs/guides/error-codes).

Implemented endpoints
---------------------
``POST /api/chat``
    Body ``{model, messages: [{role, content}], stream, options, …}``. With
    ``"stream": false`` one object: ``{model, created_at, message: {role:
    "assistant", content}, done_reason: "stop", done: true, total_duration,
    load_duration, prompt_eval_count, prompt_eval_duration, eval_count,
    eval_duration}``. Without ``stream`` (Ollama streams by default) or with
    ``true``: ``application/x-ndjson``, one chunk per answer line and a final
    ``done: true`` object with an empty content and the statistics. Errors:
    ``{"error": "…"}`` with 400 (body not JSON, no ``model``, ``messages`` not
    an array), 404 (``model 'x' not found`` when ``--models`` is given and
    the name is not in it). No authentication (a local Ollama has none).
``POST /v1/chat/completions``
    Body ``{model, messages, temperature, stream, …}``. Answer ``{id:
    "chatcmpl-N", object: "chat.completion", created, model, choices:
    [{index: 0, message: {role: "assistant", content, refusal: null},
    logprobs: null, finish_reason: "stop"}], usage: {prompt_tokens,
    completion_tokens, total_tokens}}``; with ``"stream": true``,
    ``text/event-stream`` chunks (``object: "chat.completion.chunk"``) and
    ``data: [DONE]``. Errors: ``{"error": {message, type, param, code}}``:
    401 without ``Authorization: Bearer <token>`` (``code: null``) or with a
    wrong one (``code: "invalid_api_key"``) when ``--require-token`` is set;
    400 ``invalid_request_error`` for a body that is not JSON or lacks
    ``model``/``messages``; 404 ``model_not_found`` for an unknown model
    under ``--models``.
Anything else: 404 ``404 page not found`` (text/plain, as Ollama answers).

The answer
----------
The last ``user`` message is read as JSON (numbers kept exactly as sent);
the leaf paths of the object it holds are its fields (``merchant.name``).
The content is three lines::

    SUMMARY: Request with 3 fields: amount, currency, merchant.name. Amount 12500.
    IMPACT: Approving it commits 12500.
    RISK: high

``RISK`` comes from a top-level ``amount`` (a number or numeric text):
above 10000 high, above 1000 medium, else low; without one, low. Without an
amount the IMPACT line says ``Approving it lets the request proceed.`` A user
message that is not a JSON object gives ``SUMMARY: Request with no readable
data.`` The same request always gets the same answer.

Where it differs from the real servers (simplified, said plainly)
-----------------------------------------------------------------
- No model: the answer is computed as above; ``options``, ``temperature``,
  ``format``, ``tools``, ``max_tokens`` and the system message are accepted
  and ignored. Token counts are word counts.
- Any model name exists unless ``--models`` is given; no ``/api/tags``,
  ``/api/generate``, ``/v1/models`` or other endpoints.
- Only the OpenAI-compatible path checks a bearer token, and only against
  the one given with ``--require-token``; no organizations, projects or rate
  limits (script a 429 with ``fail``).
- Faults are applied before authentication and validation, like a proxy in
  front of the server would.

Control API (not part of either API)
------------------------------------
``POST /__control`` with a JSON object; several keys may be sent at once.
Unknown keys are a 400. Answers ``{"ok": true, "applied": [...]}``.

- ``{"delay_ms": 2000}``: every later model request waits that long first
  (0 for none).
- ``{"fail": {"status": 500, "times": 2, "path_contains": "/api/chat",
  "retry_after": "1"}}``: the next ``times`` (default 1) model requests whose
  path contains ``path_contains`` (default: all) are answered ``status`` in
  that API's error shape (Ollama ``{"error": "…"}``; OpenAI ``{"error":
  {message, type, param, code}}`` with ``type`` ``server_error`` for 5xx,
  ``requests`` and ``code: "rate_limit_exceeded"`` for 429,
  ``invalid_request_error`` otherwise), with a ``Retry-After`` header when
  ``retry_after`` is given.
- ``{"malformed": {"times": 1}}``: the next ``times`` answers are status 200
  with their JSON cut in the middle.
- ``{"answer": "free text"}``: from now on the model's content is that text
  (an unparsable answer, a too-long one, prose around the three lines…);
  ``{"answer": null}`` goes back to the computed answer.
- ``{"reset": true}``: no faults, no delay, computed answers, the request log
  and counters emptied.

``GET /__requests``: every model request received, oldest first, as ``{"method",
"path", "headers": {name: value}, "authorization": "present"|"absent",
"token_ok": true|false|null, "body": <parsed JSON, or the text when it is not
JSON>, "status"}``; the ``Authorization`` header itself is never shown
(``token_ok`` is null without ``--require-token``). A test reads it to check
that only the listed context fields left the database.
``GET /__stats``: ``{"total", "by_path": {"POST /api/chat": 3, …},
"by_status": {"200": …}}`` (model requests only).
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

OLLAMA_PATH = "/api/chat"
OPENAI_PATH = "/v1/chat/completions"
MAX_LOGGED = 10_000


# ---------------------------------------------------------------- the answer

def _leaf_paths(value, prefix=""):
    """Dotted paths of an object's leaves (arrays count as leaves)."""
    if isinstance(value, dict) and value:
        out = []
        for k, v in value.items():
            out.extend(_leaf_paths(v, f"{prefix}{k}."))
        return out
    return [prefix[:-1]] if prefix else []


def _amount(data):
    a = data.get("amount")
    if isinstance(a, bool) or a is None:
        return None, None
    if isinstance(a, (int, decimal.Decimal)):
        return decimal.Decimal(a), str(a)
    if isinstance(a, str):
        try:
            return decimal.Decimal(a.strip()), a.strip()
        except decimal.InvalidOperation:
            return None, None
    return None, None


def compute_answer(messages):
    """The deterministic three lines for a request's messages."""
    user = None
    for m in messages if isinstance(messages, list) else []:
        if isinstance(m, dict) and m.get("role") == "user":
            user = m.get("content")
    try:
        data = json.loads(user, parse_float=decimal.Decimal) if isinstance(user, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return "SUMMARY: Request with no readable data.\nIMPACT: Approving it lets the request proceed.\nRISK: low"
    paths = _leaf_paths(data)
    value, text = _amount(data)
    summary = f"Request with {len(paths)} field{'s' if len(paths) != 1 else ''}: {', '.join(paths) or 'none'}."
    if text is not None:
        summary += f" Amount {text}."
    impact = f"Approving it commits {text}." if text is not None else "Approving it lets the request proceed."
    if value is not None and value > 10000:
        risk = "high"
    elif value is not None and value > 1000:
        risk = "medium"
    else:
        risk = "low"
    return f"SUMMARY: {summary}\nIMPACT: {impact}\nRISK: {risk}"


def _words(messages):
    n = 0
    for m in messages if isinstance(messages, list) else []:
        if isinstance(m, dict) and isinstance(m.get("content"), str):
            n += len(m["content"].split())
    return n


# ---------------------------------------------------------------- state

class State:
    def __init__(self, token, models):
        self.lock = threading.Lock()
        self.token = token
        self.models = models
        self.reset()

    def reset(self):
        self.delay_ms = 0
        self.fails = []      # [{"status", "times", "path_contains", "retry_after"}]
        self.malformed = 0
        self.answer = None
        self.requests = []
        self.stats = {"total": 0, "by_path": {}, "by_status": {}}
        self.counter = 0

    def take_fail(self, path):
        with self.lock:
            for f in self.fails:
                if f["times"] > 0 and f["path_contains"] in path:
                    f["times"] -= 1
                    return dict(f)
        return None

    def take_malformed(self):
        with self.lock:
            if self.malformed > 0:
                self.malformed -= 1
                return True
        return False


class ApiError(Exception):
    def __init__(self, status, body, headers=()):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, list(headers)


def ollama_error(status, message):
    return ApiError(status, {"error": message})


def openai_error(status, message, type_, code=None, param=None):
    return ApiError(status, {"error": {"message": message, "type": type_, "param": param, "code": code}})


def handle_control(state, body):
    if not isinstance(body, dict):
        return 400, {"error": "control body must be a JSON object"}
    known = {"delay_ms", "fail", "malformed", "answer", "reset"}
    unknown = sorted(set(body) - known)
    if unknown:
        return 400, {"error": f"unknown control keys: {', '.join(unknown)}"}
    applied = []
    with state.lock:
        if body.get("reset"):
            state.reset()
            applied.append("reset")
        if "delay_ms" in body:
            state.delay_ms = max(0, int(body["delay_ms"] or 0))
            applied.append("delay_ms")
        if "fail" in body:
            f = body["fail"] or {}
            state.fails.append({"status": int(f.get("status", 500)), "times": int(f.get("times", 1)),
                                "path_contains": f.get("path_contains") or "", "retry_after": f.get("retry_after")})
            applied.append("fail")
        if "malformed" in body:
            state.malformed += int((body["malformed"] or {}).get("times", 1))
            applied.append("malformed")
        if "answer" in body:
            a = body["answer"]
            if a is not None and not isinstance(a, str):
                return 400, {"error": "answer must be a string or null"}
            state.answer = a
            applied.append("answer")
    return 200, {"ok": True, "applied": applied}


# ---------------------------------------------------------------- the two APIs

def _now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ollama_chat(state, body, raw):
    if body is None:
        raise ollama_error(400, "invalid character looking for beginning of value" if raw else "missing request body")
    if not isinstance(body, dict):
        raise ollama_error(400, "json: cannot unmarshal into Go value of type api.ChatRequest")
    model = body.get("model")
    if not model:
        raise ollama_error(400, "model is required")
    if state.models and model not in state.models:
        raise ollama_error(404, f"model '{model}' not found")
    messages = body.get("messages", [])
    if not isinstance(messages, list):
        raise ollama_error(400, "json: cannot unmarshal messages into Go struct field ChatRequest.messages of type []api.Message")
    content = state.answer if state.answer is not None else compute_answer(messages)
    prompt_n, eval_n = _words(messages), len(content.split())
    final = {"model": model, "created_at": _now_rfc3339(), "message": {"role": "assistant", "content": content},
             "done_reason": "stop", "done": True, "total_duration": 5_191_566_416, "load_duration": 2_154_458,
             "prompt_eval_count": prompt_n, "prompt_eval_duration": 383_809_000, "eval_count": eval_n,
             "eval_duration": 4_799_921_000}
    if body.get("stream", True) is False:
        return final, None
    chunks = []
    lines = content.split("\n")
    for i, line in enumerate(lines):
        piece = line + ("\n" if i < len(lines) - 1 else "")
        chunks.append({"model": model, "created_at": _now_rfc3339(),
                       "message": {"role": "assistant", "content": piece}, "done": False})
    chunks.append({**final, "message": {"role": "assistant", "content": ""}})
    return None, ("application/x-ndjson", "".join(json.dumps(c) + "\n" for c in chunks))


def check_bearer(state, headers):
    """(authorization present?, token ok?) and raises 401 when a token is required and wrong."""
    auth = headers.get("Authorization")
    present = auth is not None
    if state.token is None:
        return present, None
    if not present or not auth.startswith("Bearer ") or not auth[7:].strip():
        raise openai_error(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "invalid_request_error")
    given = auth[7:].strip()
    if given != state.token:
        shown = given[:3] + "*" * max(0, len(given) - 7) + given[-4:] if len(given) > 8 else "*" * len(given)
        raise openai_error(401, f"Incorrect API key provided: {shown}.", "invalid_request_error", "invalid_api_key")
    return True, True


def openai_chat(state, body, raw):
    if not isinstance(body, dict):
        raise openai_error(400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                                "using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
                           "invalid_request_error")
    model = body.get("model")
    if not model:
        raise openai_error(400, "you must provide a model parameter", "invalid_request_error")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise openai_error(400, "Missing required parameter: 'messages'.", "invalid_request_error",
                           "missing_required_parameter", "messages")
    if state.models and model not in state.models:
        raise openai_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                           "invalid_request_error", "model_not_found")
    content = state.answer if state.answer is not None else compute_answer(messages)
    with state.lock:
        state.counter += 1
        cid = f"chatcmpl-{state.counter}"
    created = int(time.time())
    prompt_n, completion_n = _words(messages), len(content.split())
    if body.get("stream") is True:
        events = []
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
        events.append({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}]})
        events.append({**base, "choices": [{"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": None}]})
        events.append({**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]})
        text = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return None, ("text/event-stream", text)
    return {"id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_n, "completion_tokens": completion_n,
                      "total_tokens": prompt_n + completion_n}}, None


def scripted_failure(path, f):
    status = f["status"]
    headers = [("Retry-After", str(f["retry_after"]))] if f.get("retry_after") is not None else []
    message = f"scripted failure (HTTP {status})"
    if path == OLLAMA_PATH:
        return ApiError(status, {"error": message}, headers)
    if status == 429:
        return ApiError(status, {"error": {"message": "Rate limit reached for requests (scripted).", "type": "requests",
                                           "param": None, "code": "rate_limit_exceeded"}}, headers)
    type_ = "server_error" if status >= 500 else "invalid_request_error"
    return ApiError(status, {"error": {"message": message, "type": type_, "param": None, "code": None}}, headers)


# ---------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    state: State = None
    log = False
    protocol_version = "HTTP/1.1"
    # One write per response, sent at once: headers and body in separate
    # small writes would meet the client's delayed ACK (~40 ms a request).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n else ""

    def send(self, status, payload=None, headers=(), text=None, content_type="application/json", cut=False):
        data = (text if text is not None else json.dumps(payload)).encode()
        if cut:
            data = data[: max(1, len(data) // 2)]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def dispatch(self, method):
        state = self.state
        path = urlsplit(self.path).path
        raw = self.read_body() if method == "POST" else ""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if path == "/__control" and method == "POST":
            try:
                return self.send(*handle_control(state, body))
            except (TypeError, ValueError, AttributeError) as e:
                return self.send(400, {"error": f"bad control value: {e}"})
        if path == "/__requests" and method == "GET":
            with state.lock:
                return self.send(200, state.requests)
        if path == "/__stats" and method == "GET":
            with state.lock:
                return self.send(200, state.stats)
        if not (method == "POST" and path in (OLLAMA_PATH, OPENAI_PATH)):
            return self.send(404, text="404 page not found", content_type="text/plain")
        entry = {"method": method, "path": path,
                 "headers": {k: v for k, v in self.headers.items() if k.lower() != "authorization"},
                 "authorization": "present" if self.headers.get("Authorization") is not None else "absent",
                 "token_ok": None, "body": body if body is not None or not raw else raw, "status": None}
        if state.delay_ms:
            time.sleep(state.delay_ms / 1000)
        status, headers, cut = 200, [], False
        try:
            f = state.take_fail(path)
            if f:
                raise scripted_failure(path, f)
            if path == OLLAMA_PATH:
                payload, stream = ollama_chat(state, body, raw)
            else:
                _, entry["token_ok"] = check_bearer(state, self.headers)
                payload, stream = openai_chat(state, body, raw)
            cut = state.take_malformed()
        except ApiError as e:
            if path == OPENAI_PATH and e.status == 401:
                entry["token_ok"] = False
            status, payload, headers, stream = e.status, e.body, e.headers, None
        entry["status"] = status
        with state.lock:
            if len(state.requests) < MAX_LOGGED:
                state.requests.append(entry)
            s = state.stats
            s["total"] += 1
            key = f"{method} {path}"
            s["by_path"][key] = s["by_path"].get(key, 0) + 1
            s["by_status"][str(status)] = s["by_status"].get(str(status), 0) + 1
        if stream:
            content_type, text = stream
            return self.send(status, text=text, content_type=content_type, headers=headers, cut=cut)
        self.send(status, payload, headers=headers, cut=cut)

    def log_message(self, fmt, *args):
        if self.log:
            sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (its timeout is shorter than delay_ms) is
        # part of the tests, not an error worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main(argv=None):
    p = argparse.ArgumentParser(description="Ollama / OpenAI-compatible chat stand-in for awe's summarizer tests (see the module docstring).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--require-token", help="the OpenAI-compatible path needs Authorization: Bearer <this>")
    p.add_argument("--models", help="comma-separated model names that exist (default: any)")
    p.add_argument("--log", action="store_true", help="log every request on stderr")
    a = p.parse_args(argv)
    models = {m.strip() for m in a.models.split(",") if m.strip()} if a.models else set()
    Handler.state = State(a.require_token, models)
    Handler.log = a.log
    server = Server((a.host, a.port), Handler)
    print(f"listening on {a.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
