"""A local SendGrid that speaks ``POST /v3/mail/send`` for tests and benchmarks.

Every request is checked the way SendGrid checks it: the bearer key (401), the
body against the Mail Send operation of SendGrid's published description
(``specs/sendgrid-v3.oai.json``, via ``openapi_check``) and the limits the
description cannot express (``mail_send_errors``). What SendGrid would refuse
gets a 400 in its error shape; what it would take gets a 202 with an
``X-Message-Id`` and is recorded. HTTP/1.1 keep-alive, TCP connections counted.

Knobs: ``latency`` per request, ``fail_next`` (inject 429/5xx/4xx answers),
``stall`` (hold a request so the client times out). ``GET /__fake__/stats``
gives the counters to a benchmark running the fake in another process:

    python -m tests.fakes.sendgrid_fake --port 8025 --latency 0.08
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.openapi_check import ApiSpec

SPEC_FILE = "sendgrid-v3.oai.json"
MAIL_SEND = "/v3/mail/send"
FAKE_API_KEY = "SG.pulse-fake-key.not-a-secret"
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
# SendGrid's limits, stated here on their own (from the Mail Send reference and its
# Errors page) rather than imported from the adapter, so a wrong adapter constant fails.
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_BODY_BYTES = 30 * 1024 * 1024
MAX_SUBSTITUTIONS_BYTES = 10_000
MAX_CUSTOM_ARGS_BYTES = 10_000
RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}
DEFAULT_ERRORS = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "access forbidden",
    413: "Payload Too Large",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}


def error_body(*errors: tuple[str | None, str]) -> dict[str, Any]:
    """SendGrid's error shape: ``{"errors": [{"message", "field", "help"}]}``."""
    return {"errors": [{"message": m, "field": f, "help": HELP if f else None} for f, m in errors]}


def _size(value: Any) -> int:
    return len(json.dumps(value).encode("utf-8"))


def mail_send_errors(body: Any) -> list[tuple[str | None, str]]:
    """(field, message) for each reason SendGrid would answer 400 to this JSON body."""
    spec = ApiSpec.load(SPEC_FILE)
    found = [(v.field, v.message) for v in spec.validate_request("POST", MAIL_SEND, json_body=body)]
    if found or not isinstance(body, Mapping):
        return found or [(None, "the body must be a JSON object")]
    personalizations = body["personalizations"]
    if not personalizations:
        found.append(("personalizations", "You must have at least one personalization."))
    if len(personalizations) > MAX_PERSONALIZATIONS:
        found.append(("personalizations", "The personalization block is limited to 1000."))
    addresses: list[str] = []
    for i, p in enumerate(personalizations):
        field = f"personalizations.{i}"
        addresses += [r["email"].lower() for kind in ("to", "cc", "bcc") for r in p.get(kind, [])]
        if not p["to"]:
            found.append((f"{field}.to", "The to array must have at least one recipient."))
        for name, limit in (
            ("substitutions", MAX_SUBSTITUTIONS_BYTES),
            ("custom_args", MAX_CUSTOM_ARGS_BYTES),
        ):
            values = p.get(name, {})
            if any(not isinstance(v, str) for v in values.values()):
                found.append((f"{field}.{name}", f"{name} values must be strings."))
            if _size(values) > limit:
                found.append((f"{field}.{name}", f"{name} may not exceed {limit} bytes."))
        found += _header_errors(p.get("headers", {}), f"{field}.headers")
    if len(addresses) > MAX_RECIPIENTS:
        found.append(("personalizations", "There is a limit of 1000 total recipients."))
    if len(set(addresses)) != len(addresses):
        found.append(("personalizations", "Each email address should only be included once."))
    found += _header_errors(body.get("headers", {}), "headers")
    types = [c["type"] for c in body["content"]]
    if not types:
        found.append(("content", "Unless a valid template_id is provided, content is required."))
    for kind in ("text/plain", "text/html"):
        if types.count(kind) > 1:
            found.append(("content", f"If present, {kind} may only be provided once."))
    ranks = [{"text/plain": 0, "text/html": 1}.get(kind, 2) for kind in types]
    if ranks != sorted(ranks):
        found.append(("content", "text/plain must be first, followed by text/html, then others."))
    return found


def _header_errors(headers: Mapping[str, Any], field: str) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    for name, value in headers.items():
        if not isinstance(value, str):
            found.append((f"{field}.{name}", "header values must be strings."))
        if name.lower() in RESERVED_HEADERS:
            found.append((f"{field}.{name}", f"{name} is a reserved header."))
    return found


@dataclass(frozen=True)
class RecordedRequest:
    """One accepted Mail Send request."""

    body: dict[str, Any]
    headers: dict[str, str]  # names lower-cased
    received_at: float  # time.time()
    connection_id: int  # which TCP connection carried it, counting from 1
    message_id: str  # the X-Message-Id answered
    stalled: float = 0.0  # seconds the fake held it before handling it (see ``stall``)

    @property
    def recipients(self) -> list[str]:
        return [to["email"] for p in self.body["personalizations"] for to in p["to"]]


@dataclass(frozen=True)
class RejectedRequest:
    status: int
    answer: dict[str, Any]
    raw: bytes


class SendGridFake:
    """The fake server. ``start()`` returns the base URL for ``SendGridConfig.base_url``."""

    def __init__(
        self,
        *,
        api_key: str = FAKE_API_KEY,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool = True,
    ) -> None:
        self.api_key = api_key
        self.latency = latency
        # Benchmarks only: skip the OpenAPI and limit checks (their CPU would be measured
        # as Pulse's). Tests always validate.
        self.validate = validate
        self._address = (host, port)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._rejected: list[RejectedRequest] = []
        self._failures: list[tuple[int, dict[str, str], Any]] = []
        self._stalls: list[float] = []
        self._holds: list[tuple[Callable[[], bool], float]] = []
        self.holds: list[bool] = []  # per ``hold``: whether its condition came true while the request waited
        self._sockets: set[socket.socket] = set()
        self.connections_opened = 0
        self.received = 0  # every Mail Send request, answered 202 or not
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Server(self._address, handler)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() waits for the loop to notice
            name="sendgrid-fake",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop serving; release stalled requests and close kept-alive connections."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            with self._lock:
                for sock in list(self._sockets):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self._server.server_close()
            self._server = None

    # -- knobs ------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (before any check).

        A 429 gets ``X-RateLimit-Reset`` a minute ahead unless ``headers`` say otherwise.
        """
        answer = (
            body if body is not None else error_body((None, DEFAULT_ERRORS.get(status, "error")))
        )
        extra = dict(headers or {})
        if status == 429:
            extra.setdefault("X-RateLimit-Limit", "600")
            extra.setdefault("X-RateLimit-Remaining", "0")
            extra.setdefault("X-RateLimit-Reset", str(int(time.time()) + 60))
        with self._lock:
            self._failures += [(status, extra, answer)] * times

    def stall(self, seconds: float) -> None:
        """Hold the next request ``seconds`` (or until ``stop``) before handling it."""
        with self._lock:
            self._stalls.append(seconds)

    def hold(self, until: Callable[[], bool], limit: float = 20.0) -> None:
        """Hold the next request until ``until()`` is true (asked every 10 ms), at most ``limit``
        seconds (or until ``stop``), then handle it; ``holds`` says whether it came true. For
        tests of what happens while a request is out."""
        with self._lock:
            self._holds.append((until, limit))

    # -- what happened ----------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def rejected(self) -> list[RejectedRequest]:
        with self._lock:
            return list(self._rejected)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "received": self.received,
                "requests": len(self._requests),
                "personalizations": sum(len(r.body["personalizations"]) for r in self._requests),
                "rejected": len(self._rejected),
                "connections": self.connections_opened,
            }

    # -- handling ---------------------------------------------------------------------

    def handle_mail_send(
        self, raw: bytes, headers: Mapping[str, str], connection_id: int
    ) -> tuple[int, dict[str, str], Any]:
        """(status, extra headers, JSON answer or None) for one request."""
        with self._lock:
            self.received += 1
            stall = self._stalls.pop(0) if self._stalls else 0.0
            hold = self._holds.pop(0) if self._holds else None
            failure = self._failures.pop(0) if self._failures else None
        if stall:
            self._stopping.wait(stall)
        if hold is not None:
            until, limit = hold
            deadline = time.monotonic() + limit
            while not (met := until()) and time.monotonic() < deadline and not self._stopping.wait(0.01):
                pass
            with self._lock:
                self.holds.append(met)
        if self.latency:
            self._stopping.wait(self.latency)
        if failure is not None:
            return failure
        if not secrets.compare_digest(headers.get("authorization", ""), f"Bearer {self.api_key}"):
            return self._reject(401, error_body((None, DEFAULT_ERRORS[401])), raw)
        if len(raw) > MAX_BODY_BYTES:
            return self._reject(413, error_body((None, DEFAULT_ERRORS[413])), raw)
        try:
            body = json.loads(raw)
        except ValueError:
            return self._reject(400, error_body((None, "Bad Request: the body is not JSON")), raw)
        errors = mail_send_errors(body) if self.validate else []
        if errors:
            return self._reject(400, error_body(*errors), raw)
        message_id = secrets.token_urlsafe(16)
        record = RecordedRequest(body, dict(headers), time.time(), connection_id, message_id, stall)
        with self._lock:
            self._requests.append(record)
        return 202, {"X-Message-Id": message_id}, None

    def _reject(
        self, status: int, answer: dict[str, Any], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self._rejected.append(RejectedRequest(status, answer, raw))
        return status, {}, answer

    def _connection_opened(self, sock: socket.socket) -> int:
        with self._lock:
            self.connections_opened += 1
            self._sockets.add(sock)
            return self.connections_opened

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and left is expected here, not worth a traceback


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one TCP connection for many requests
    timeout = 60  # an idle kept-alive connection is dropped after this many seconds
    fake: SendGridFake

    def setup(self) -> None:
        super().setup()
        self.connection_id = self.fake._connection_opened(self.connection)

    def finish(self) -> None:
        self.fake._connection_closed(self.connection)
        super().finish()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.split("?")[0] != MAIL_SEND:
            return self._answer(404, {}, error_body((None, "resource not found")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._answer(*self.fake.handle_mail_send(raw, headers, self.connection_id))

    def do_GET(self) -> None:
        if self.path == "/__fake__/stats":
            return self._answer(200, {}, self.fake.stats())
        self._answer(404, {}, error_body((None, "resource not found")))

    def _answer(self, status: int, headers: Mapping[str, str], answer: Any) -> None:
        payload = b"" if answer is None else json.dumps(answer).encode("utf-8")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description="A local SendGrid Mail Send API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--api-key", default=FAKE_API_KEY)
    args = parser.parse_args()
    fake = SendGridFake(api_key=args.api_key, latency=args.latency, host=args.host, port=args.port)
    print(fake.start(), flush=True)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    fake.stop()


if __name__ == "__main__":
    main()
