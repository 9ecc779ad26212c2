"""A local stand-in for Twilio's Messages API, for tests and benchmarks.

It speaks ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` the way the
real service does, to the official SDK over real HTTP: Basic auth, the request
checked against Twilio's published OpenAPI description and Twilio's own rules,
Twilio's error JSON and statuses, a Message resource on success, a per-sender
messages-per-second limit, and signed status callbacks. Every request is
recorded so tests can assert what was sent and when.

    fake = TwilioFake(mps=5)
    base_url = fake.start()   # give it to TwilioConfig(api_base_url=...)
    ...
    fake.stop()

Benchmarks: ``python -m tests.fakes.twilio_fake --port 8099 --mps 20``.
"""

from __future__ import annotations

import argparse
import base64
import json
import queue
import re
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

from twilio.request_validator import RequestValidator

from channels.sms_encoding import count_segments
from tests.fakes.openapi_check import ApiSpec

FAKE_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
FAKE_AUTH_TOKEN = "fake-twilio-auth-token"
SPEC_FILE = "twilio-api-v2010.oai.json"
_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
MAX_BODY_CHARS = 1600

# Twilio's errors: code -> (HTTP status, Twilio's message). Codes below 1000 are
# plain HTTP failures the knobs can inject (Twilio answers them with code = status).
TWILIO_ERRORS: dict[int, tuple[int, str]] = {
    20001: (400, "Invalid parameter"),
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    21211: (400, "Invalid 'To' Phone Number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    500: (500, "Internal Server Error"),
    503: (503, "Service Unavailable"),
}


@dataclass(frozen=True)
class AcceptedMessage:
    sid: str
    sender: str  # MessagingServiceSid or From: whom the MPS limit counts against
    to: str
    body: str
    form: dict[str, str]
    at: float  # time.monotonic() when the request arrived
    num_segments: int


@dataclass(frozen=True)
class RejectedRequest:
    status: int
    code: int
    message: str
    form: dict[str, str]
    at: float


@dataclass(frozen=True)
class PostedCallback:
    url: str
    params: dict[str, str]
    signature: str
    status: int | None  # our endpoint's HTTP status; None if it could not be reached


class TwilioFake:
    """The fake server; knobs may be changed while it runs."""

    def __init__(
        self,
        *,
        account_sid: str = FAKE_ACCOUNT_SID,
        auth_token: str = FAKE_AUTH_TOKEN,
        mps: float | None = None,  # per-sender limit; None: unlimited
        burst: int = 1,
        mps_tolerance: float = 0.05,  # seconds of network jitter forgiven before a violation
        status_callbacks: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.mps, self.burst, self.mps_tolerance = mps, burst, mps_tolerance
        self.status_callbacks = status_callbacks
        self.spec = ApiSpec.load(SPEC_FILE)
        self.accepted: list[AcceptedMessage] = []
        self.rejected: list[RejectedRequest] = []
        self.violations: list[RejectedRequest] = []  # over the MPS limit (also in rejected)
        self.callbacks: list[PostedCallback] = []
        self._address = (host, port)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._failing_numbers: dict[str, int] = {}
        self._failing_next: list[int] = []
        self._stalls: list[float] = []
        self._tats: dict[str, float] = {}
        self._stopping = threading.Event()
        self._callback_queue: queue.Queue[tuple[str, dict[str, str]] | None] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> str:
        """Serve in background threads; returns the base URL (``http://127.0.0.1:<port>``)."""
        self._stopping.clear()
        self._server = ThreadingHTTPServer(self._address, _handler_for(self))
        self._server.daemon_threads = True
        self._threads = [
            # A short poll interval so stop() returns quickly between tests.
            threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="twilio-fake", daemon=True
            ),
            threading.Thread(
                target=self._post_callbacks, name="twilio-fake-callbacks", daemon=True
            ),
        ]
        for thread in self._threads:
            thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self._address[0]}:{self._server.server_port}"

    def stop(self) -> None:
        self._stopping.set()  # releases stalled requests
        self._callback_queue.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._server = None

    # -- knobs ----------------------------------------------------------------------

    def fail_number(self, to: str, code: int) -> None:
        """Answer every message to ``to`` with Twilio error ``code`` (see TWILIO_ERRORS)."""
        with self._lock:
            self._failing_numbers[to] = code

    def fail_next(self, count: int, code: int) -> None:
        """Answer the next ``count`` requests with Twilio error ``code``."""
        with self._lock:
            self._failing_next += [code] * count

    def stall(self, seconds: float, count: int = 1) -> None:
        """Hold the next ``count`` requests for ``seconds`` before handling them."""
        with self._lock:
            self._stalls += [seconds] * count

    def wait_for_callbacks(self, count: int, timeout: float = 10.0) -> list[PostedCallback]:
        """Block until at least ``count`` status callbacks were posted (or the timeout)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.callbacks) >= count, timeout=timeout)
            return list(self.callbacks)

    # -- handling one request -------------------------------------------------------

    def handle_create(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one POST; records it."""
        with self._lock:
            stall = self._stalls.pop(0) if self._stalls else 0.0
        if stall:
            self._stopping.wait(stall)
        arrived = time.monotonic()
        form = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
        match = _PATH.match(path.split("?")[0])
        if not self._authorized(headers.get("authorization", "")):
            return self._reject(20003, form, arrived, "Your AccountSid or AuthToken was incorrect.")
        if match is None or match["account"] != self.account_sid:
            return self._reject(20404, form, arrived)
        # Twilio's specific codes first (a missing To is 21604, not a schema error).
        code = self._twilio_rule_error(form)
        if code:
            return self._reject(code, form, arrived)
        violations = self.spec.validate_request(
            "POST", path, body=raw, content_type=headers.get("content-type")
        )
        if violations:
            return self._reject(20001, form, arrived, "; ".join(str(v) for v in violations))
        code = self._injected_error(form.get("To", ""))
        if code:
            return self._reject(code, form, arrived)
        sender = form.get("MessagingServiceSid") or form.get("From", "")
        if not self._within_rate(sender, arrived):
            return self._reject(20429, form, arrived, violation=True)
        return 201, self._accept(form, sender, arrived)

    def _authorized(self, header: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        # Bytes: compare_digest refuses str with non-ASCII, which a client may well send.
        return secrets.compare_digest(header.encode("utf-8"), f"Basic {expected}".encode())

    def _twilio_rule_error(self, form: dict[str, str]) -> int | None:
        """Twilio's own checks, beyond what the OpenAPI description can say."""
        if not form.get("To"):
            return 21604
        if not _E164.match(form["To"]):
            return 21211
        # Pulse sends from exactly one sender: a From number or a Messaging Service.
        if bool(form.get("From")) == bool(form.get("MessagingServiceSid")):
            return 21603
        if not form.get("Body") and not form.get("MediaUrl") and not form.get("ContentSid"):
            return 21602
        if len(form.get("Body", "")) > MAX_BODY_CHARS:
            return 21617
        return None

    def _injected_error(self, to: str) -> int | None:
        with self._lock:
            if self._failing_next:
                return self._failing_next.pop(0)
            return self._failing_numbers.get(to)

    def _within_rate(self, sender: str, now: float) -> bool:
        """GCRA per sender, as carriers meter it; a request over the limit is a violation."""
        if self.mps is None:
            return True
        interval = 1.0 / self.mps
        with self._lock:
            tat = max(self._tats.get(sender, now), now)
            if tat - now > (self.burst - 1) * interval + self.mps_tolerance:
                return False
            self._tats[sender] = tat + interval
            return True

    def _reject(
        self,
        code: int,
        form: dict[str, str],
        at: float,
        detail: str = "",
        *,
        violation: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        status, message = TWILIO_ERRORS[code]
        rejected = RejectedRequest(status, code, detail or message, form, at)
        with self._changed:
            self.rejected.append(rejected)
            if violation:
                self.violations.append(rejected)
            self._changed.notify_all()
        body: dict[str, Any] = {
            "code": code,
            "message": f"{message}: {detail}" if detail and code != 20003 else message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        if code == 20003:
            body["detail"] = detail
        return status, body

    def _accept(self, form: dict[str, str], sender: str, at: float) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        body = form.get("Body", "")
        segments = count_segments(body).segments
        accepted = AcceptedMessage(sid, sender, form["To"], body, form, at, segments)
        with self._changed:
            self.accepted.append(accepted)
            self._changed.notify_all()
        if self.status_callbacks and form.get("StatusCallback"):
            self._callback_queue.put((form["StatusCallback"], self._callback_params(accepted)))
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0", "num_segments": str(segments), "price": None, "price_unit": "USD",
            "sid": sid, "status": "queued", "to": form["To"],
            "subresource_uris": {"media": f"{uri}/Media.json"}, "uri": f"{uri}.json",
        }  # fmt: skip

    # -- status callbacks -----------------------------------------------------------

    def _callback_params(self, message: AcceptedMessage) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid, "ApiVersion": "2010-04-01",
            "MessageSid": message.sid, "SmsSid": message.sid,
            "From": message.form.get("From", "+15005550006"), "To": message.to,
        }  # fmt: skip
        if message.form.get("MessagingServiceSid"):
            params["MessagingServiceSid"] = message.form["MessagingServiceSid"]
        return params

    def _post_callbacks(self) -> None:
        """Post queued -> sent -> delivered for each message, in order, off the request thread."""
        validator = RequestValidator(self.auth_token)
        while (item := self._callback_queue.get()) is not None:
            url, base = item
            for status in ("queued", "sent", "delivered"):
                if self._stopping.is_set():
                    return
                params = {**base, "MessageStatus": status, "SmsStatus": status}
                signature = validator.compute_signature(url, params)
                request = urllib.request.Request(
                    url, data=urlencode(params).encode(), method="POST",
                    headers={"X-Twilio-Signature": signature,
                             "Content-Type": "application/x-www-form-urlencoded"},
                )  # fmt: skip
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        answered: int | None = response.status
                except urllib.error.HTTPError as exc:
                    answered = exc.code
                except OSError:
                    answered = None
                with self._changed:
                    self.callbacks.append(PostedCallback(url, params, signature, answered))
                    self._changed.notify_all()


def _handler_for(fake: TwilioFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session expects

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = fake.handle_create(self.path, headers, raw)
            self._answer(status, body)

        def do_GET(self) -> None:
            self._answer(404, {"code": 20404, "message": "The requested resource was not found",
                               "more_info": "https://www.twilio.com/docs/errors/20404",
                               "status": 404})  # fmt: skip

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a stalled request timed out)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests and benchmarks read the records instead

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Local fake of Twilio's Messages API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--mps", type=float, default=None, help="messages per second per sender")
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--account-sid", default=FAKE_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=FAKE_AUTH_TOKEN)
    parser.add_argument("--status-callbacks", action="store_true")
    args = parser.parse_args()
    fake = TwilioFake(
        account_sid=args.account_sid, auth_token=args.auth_token, mps=args.mps,
        burst=args.burst, status_callbacks=args.status_callbacks, host=args.host, port=args.port,
    )  # fmt: skip
    print(f"Twilio fake at {fake.start()} (account {args.account_sid}); Ctrl-C stops", flush=True)
    # SIGTERM too: a benchmark script stops it with kill and still gets the summary.
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    done.wait()
    fake.stop()
    print(f"accepted {len(fake.accepted)}, rejected {len(fake.rejected)}, "
          f"over the MPS limit {len(fake.violations)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
