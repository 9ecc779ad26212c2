"""Email through SendGrid's v3 Mail Send API: requests built as plain dicts, posted through the SDK's client.

Messages that differ only in their recipient and substitutions travel in one
Mail Send request, one personalization each, so a 10,000-contact invite is ten
HTTP requests, not 10,000. ``build_requests`` does that grouping and nothing
else (pure); ``send`` posts the requests over one kept-alive connection and
maps SendGrid's answer to a ``SendResult`` per message.

The body is the SDK's ``Mail.get()`` shape, built as plain dicts (the SDK's
helper objects cost about 140 µs per recipient; this is about 20), each
personalization serialised once and the body's JSON assembled from those
pieces, so the size checked against SendGrid's limits is the size posted.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import lru_cache
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

import urllib3
from python_http_client.exceptions import HTTPError as SendGridHTTPError

from channels.base import ChannelError, ErrorKind, OutgoingMessage, SendResult
from channels.email_headers import check_headers
from channels.sendgrid_http import KeepAliveSendGridClient

# SendGrid's limits for one Mail Send request. Sources: the Mail Send reference
# (the personalizations, substitutions, custom_args and categories fields in
# sendgrid-v3.oai.json), its "Errors" page ("limited to 1000 personalizations
# per API request", "a limit of 1000 total recipients (to + cc + bcc) per
# request") and the Mail Send overview's limitations ("The total size of your
# email, including attachments, must be less than 30MB").
MAX_PERSONALIZATIONS = 1_000
MAX_RECIPIENTS = 1_000
MAX_REQUEST_BYTES = 30 * 1024 * 1024
# Substitutions: the Mail Send reference says "may not exceed 10,000 bytes per personalization
# object"; the older Substitution Tags page says 50,000. We keep to the stricter.
MAX_SUBSTITUTIONS_BYTES = 10_000
MAX_CUSTOM_ARGS_BYTES = 10_000  # "may not exceed 10,000 bytes"
MAX_CATEGORIES = 10
MAX_CATEGORY_CHARS = 255
MESSAGE_ID_ARG = "pulse_message_id"  # custom_arg that the event webhook echoes back
# A SendGrid API key ("SG.", 22 characters, ".", 43 characters): the SDK's ValidateApiKey refuses content
# that starts with r"SG\.[0-9a-zA-Z]+\.[0-9a-zA-Z]+"; we look anywhere in it, for keys as SendGrid issues them.
API_KEY_SHAPE = re.compile(r"SG\.[0-9A-Za-z_-]{16,32}\.[0-9A-Za-z_-]{16,64}")
MIN_KEY_CHARS = 20  # SendGrid's keys are 69 characters; a shorter configured value (a local stub) matches too much text
API_KEY_REFUSAL = "the content contains a SendGrid API key; it is never mailed out (fix the template)"


@dataclass(frozen=True, kw_only=True)
class SendGridConfig:
    api_key: str = field(repr=False)
    from_email: str
    from_name: str | None = None
    base_url: str = "https://api.sendgrid.com"  # the SDK appends /v3/...
    timeout: float = 10.0  # seconds, for connecting and for the answer
    # Personalizations per Mail Send request: SendGrid's limit; smaller only where tests need
    # several requests from a small audience (the chaos suite kills workers between them).
    max_personalizations: int = MAX_PERSONALIZATIONS


@dataclass(frozen=True)
class MailSendRequest:
    """One ``POST /v3/mail/send``: its JSON body and whose messages it carries."""

    body: dict[str, Any]
    message_ids: tuple[str, ...]
    size: int  # bytes of the JSON body as ``json.dumps`` writes it
    payload: bytes = field(default=b"", repr=False, compare=False)  # that JSON, as posted


def classify_sendgrid_error(
    status: int, body: bytes | str | None, headers: Mapping[str, str], *, now: float
) -> ChannelError:
    """What a non-2xx Mail Send answer means for every message in that request."""
    text = _error_text(body) or f"HTTP {status}"
    code = str(status)
    if status in (401, 403):
        return ChannelError(ErrorKind.MISCONFIGURED, code, text)  # key revoked or lacks mail.send
    if status == 404:
        return ChannelError(ErrorKind.MISCONFIGURED, code, f"{text} (is base_url right?)")
    if status == 429:
        return ChannelError(ErrorKind.TRANSIENT, code, text, retry_after=_retry_after(headers, now))
    if status >= 500:
        return ChannelError(ErrorKind.TRANSIENT, code, text)
    return ChannelError(ErrorKind.PERMANENT, code, text)  # 400 invalid request, 413 too large


def _error_text(body: bytes | str | None) -> str:
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        errors = json.loads(raw).get("errors") or []
        return "; ".join(
            f"{e['field']}: {e.get('message', '')}" if e.get("field") else str(e.get("message", ""))
            for e in errors
        )
    except (ValueError, AttributeError, TypeError, KeyError):
        return raw[:500]


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    # X-RateLimit-Reset is the epoch second at which the limit resets.
    try:
        reset = float(headers.get("X-RateLimit-Reset") or headers.get("x-ratelimit-reset") or "")
    except ValueError:
        return None
    return max(0.0, reset - now)


@dataclass
class _Chunk:
    """The messages of one future request, while the plan is being made."""

    size: int
    members: list[int] = field(default_factory=list)
    addresses: set[str] = field(default_factory=set)
    personalizations: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # each personalization's JSON

    def has_room(self, address: str, size: int) -> bool:
        return (
            len(self.members) < min(MAX_PERSONALIZATIONS, MAX_RECIPIENTS)
            and address not in self.addresses
            and self.size + size <= MAX_REQUEST_BYTES
        )

    def add(self, index: int, address: str, size: int, personalization: dict[str, Any], text: str) -> None:
        self.members.append(index)
        self.addresses.add(address)
        self.size += size
        self.personalizations.append(personalization)
        self.texts.append(text)


def _json_size(value: Any) -> int:
    return len(json.dumps(value).encode("utf-8"))


def _json_writer() -> Callable[[Any], str]:
    """``json.dumps`` with its default settings, for many small values: the C encoder that
    ``json.dumps`` makes afresh for every call (about a third of a personalization's cost) is
    made once. Same text; plain dicts, lists and strings only (no circular check)."""
    if c_make_encoder is None:  # an interpreter without the C accelerator
        return json.dumps
    encode = c_make_encoder(None, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ", False, False, True)
    return lambda value: "".join(encode(value, 0))


_personalization_json = _json_writer()


EMPTY_PERSONALIZATIONS = '"personalizations": []'
# An address that email.utils.parseaddr hands back as it is (no display name, comment or quoting).
_PLAIN_ADDRESS = re.compile(r'^[^\s<>()",;:\\\[\]@]+@[^\s<>()",;:\\\[\]@]+$')


def _address(email: str, name: str | None) -> dict[str, str]:
    """What the SDK's ``Email(email, name).get()`` gives: without a name, the address is
    parsed as "Name <address>" (the plain case, nearly every one, without parsing)."""
    if name:
        return {"name": name, "email": email}
    if _PLAIN_ADDRESS.match(email):
        return {"email": email}
    parsed_name, parsed_email = parseaddr(email)
    if "@" not in parsed_email:
        parsed_name, parsed_email = parsed_email, ""
    return {k: v for k, v in (("name", parsed_name), ("email", parsed_email)) if v}


def _refuse(code: str, text: str) -> ChannelError:
    return ChannelError(ErrorKind.PERMANENT, code, text)


def _too_large(personalization: Mapping[str, Any]) -> ChannelError | None:
    """SendGrid's per-personalization limits (checked only for a personalization whose whole JSON is over them)."""
    if _json_size(personalization.get("substitutions", {})) > MAX_SUBSTITUTIONS_BYTES:
        return _refuse("substitutions_too_large", f"over {MAX_SUBSTITUTIONS_BYTES} bytes")
    if _json_size(personalization["custom_args"]) > MAX_CUSTOM_ARGS_BYTES:
        return _refuse("custom_args_too_large", f"over {MAX_CUSTOM_ARGS_BYTES} bytes")
    return None


class SendGridChannel:
    """The ``sendgrid`` email adapter: one per worker process; ``send`` may be called from two threads at once."""

    name = "sendgrid"
    medium = "email"
    max_batch = MAX_PERSONALIZATIONS
    # ``send`` may run in two threads at once (the dispatcher overlaps one request with the
    # next chunk's database work): building is pure and the connection pool holds two.
    max_in_flight = 2
    # One Mail Send request per distinct content (personalizations share it): the dispatcher
    # gives a call one content, so the messages it marks in flight are what one request carries.
    request_per_content = True

    def __init__(self, config: SendGridConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.max_batch = max(1, min(config.max_personalizations, MAX_PERSONALIZATIONS))
        self._clock = clock  # epoch seconds; turns X-RateLimit-Reset into a delay
        self._sdk = KeepAliveSendGridClient(
            api_key=config.api_key, host=config.base_url, timeout=config.timeout
        )

    # -- building ---------------------------------------------------------------------

    def build_requests(self, messages: Sequence[OutgoingMessage]) -> list[MailSendRequest]:
        """The Mail Send requests ``send`` would make; messages it would refuse are left out."""
        return [request for request, _ in self._plan(messages)[0]]

    def _plan(
        self, messages: Sequence[OutgoingMessage]
    ) -> tuple[list[tuple[MailSendRequest, list[int]]], dict[int, ChannelError]]:
        refused: dict[int, ChannelError] = {}
        groups: dict[tuple[Any, ...], list[int]] = {}
        messages = [message.per_part() for message in messages]  # substitutions apply to every part alike
        for index, message in enumerate(messages):
            problem = self._problem(message)
            if problem is not None:
                refused[index] = problem
                continue
            # Header *names* are part of the key, not values: List-Unsubscribe carries a
            # per-recipient token, and per-personalization headers are made for exactly that.
            headers = tuple(message.headers)
            key = (message.subject, message.text, message.html or "", headers, _categories(message), message.reply_to)
            groups.setdefault(key, []).append(index)
        plan: list[tuple[MailSendRequest, list[int]]] = []
        for indices in groups.values():
            if self._holds_api_key(messages[indices[0]]):  # a group shares its content: checked once
                refused.update((index, _refuse("api_key_in_content", API_KEY_REFUSAL)) for index in indices)
                continue
            plan += self._group_requests(messages, indices, refused)
        return plan, refused

    def _holds_api_key(self, message: OutgoingMessage) -> bool:
        """Whether the content would mail out a SendGrid API key (ours, or anything shaped like one):
        the SDK's ``ValidateApiKey`` refused such content, our plain-dict bodies check it here."""
        key = self.config.api_key if len(self.config.api_key) >= MIN_KEY_CHARS else None  # a stub key is no secret to look for
        for part in (message.subject, message.text, message.html):
            if part and ((key and key in part) or ("SG." in part and API_KEY_SHAPE.search(part))):
                return True
        return False

    def _problem(self, message: OutgoingMessage) -> ChannelError | None:
        """Why SendGrid would refuse this message whatever it travels with, if it would
        (the size limits are checked on the personalization itself, in ``_group_requests``)."""
        local, at, domain = message.to.rpartition("@")
        if not (at and local and domain):
            return _refuse("invalid_recipient", f"{message.to!r} is not an email address")
        if not message.subject:
            return _refuse("missing_subject", "an email needs a subject")
        if not message.text and not message.html:
            return _refuse("empty_content", "an email needs a text or an HTML part")
        try:
            check_headers(message.headers)
        except ValueError as exc:
            return _refuse("reserved_header", str(exc))
        return None

    @staticmethod
    def _custom_args(message: OutgoingMessage) -> dict[str, str]:
        custom_args = {key: str(value) for key, value in message.custom_args.items()}
        return {**custom_args, MESSAGE_ID_ARG: message.message_id}

    def _group_requests(
        self, messages: Sequence[OutgoingMessage], indices: list[int], refused: dict[int, ChannelError]
    ) -> list[tuple[MailSendRequest, list[int]]]:
        """The requests of one group (same content): plain dicts, each personalization
        serialised once, and the body's JSON assembled from those pieces.

        Headers every recipient of the group shares go once, at the top. Requests
        are split within SendGrid's limits, first fit: a recipient goes into the
        first request with room that does not already hold the same address
        (SendGrid refuses a request that names an address twice). Who fits in
        none, or whose substitutions or custom args are too large, is refused.
        """
        filled = [messages[i].filled_headers() for i in indices]
        shared = {k: v for k, v in filled[0].items() if all(h.get(k) == v for h in filled)}
        base = self._mail(messages[indices[0]], shared)
        base_text = json.dumps(base)
        chunks: list[_Chunk] = []
        for index, headers in zip(indices, filled):
            message = messages[index]
            personalization = self._personalization(message, {k: v for k, v in headers.items() if k not in shared})
            text = _personalization_json(personalization)
            if len(text) > min(MAX_SUBSTITUTIONS_BYTES, MAX_CUSTOM_ARGS_BYTES) and (problem := _too_large(personalization)):
                refused[index] = problem
                continue
            size = len(text) + 2  # the ", " between personalizations
            if len(base_text) + size > MAX_REQUEST_BYTES:
                refused[index] = _refuse("too_large", f"over SendGrid's {MAX_REQUEST_BYTES} bytes")
                continue
            address = message.to.lower()
            chunk = next((c for c in chunks if c.has_room(address, size)), None)
            if chunk is None:
                chunk = _Chunk(size=len(base_text))
                chunks.append(chunk)
            chunk.add(index, address, size, personalization, text)
        return [(self._request(messages, base, base_text, chunk), chunk.members) for chunk in chunks]

    @staticmethod
    def _request(messages: Sequence[OutgoingMessage], base: dict[str, Any], base_text: str, chunk: _Chunk) -> MailSendRequest:
        # json.dumps writes a list as "[" + ", ".join(items) + "]", and an unescaped '"' only
        # occurs around keys and strings: the key below is the body's own, never text inside a value.
        payload = base_text.replace(EMPTY_PERSONALIZATIONS, f'"personalizations": [{", ".join(chunk.texts)}]', 1)
        body = {**base, "personalizations": chunk.personalizations}
        return MailSendRequest(body, tuple(messages[i].message_id for i in chunk.members), len(payload), payload.encode("ascii"))

    def _mail(self, message: OutgoingMessage, headers: Mapping[str, str]) -> dict[str, Any]:
        """The body but its personalizations, in the SDK's key order (``Mail.get()``).
        Subject, text and html keep their placeholders: SendGrid fills them per personalization."""
        mail: dict[str, Any] = {"from": _address(self.config.from_email, self.config.from_name), "subject": message.subject or "",
                                "personalizations": []}
        content = []  # text/plain first, as SendGrid requires
        if message.text:
            content.append({"type": "text/plain", "value": message.text})
        if message.html:
            content.append({"type": "text/html", "value": message.html})
        mail["content"] = content
        if headers:
            mail["headers"] = dict(headers)
        if categories := _categories(message):
            mail["categories"] = list(categories)
        if message.reply_to:
            mail["reply_to"] = _address(message.reply_to, None)
        return mail

    def _personalization(self, message: OutgoingMessage, headers: Mapping[str, str]) -> dict[str, Any]:
        personalization: dict[str, Any] = {"to": [_address(message.to, message.to_name)]}
        if headers:
            personalization["headers"] = dict(headers)
        if message.substitutions:
            personalization["substitutions"] = dict(message.substitutions)
        personalization["custom_args"] = self._custom_args(message)
        return personalization

    # -- sending ----------------------------------------------------------------------

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """One result per message, in order; never raises for a provider error.

        Every message of a request shares its outcome: the request's X-Message-Id
        on success (events come back per message through ``pulse_message_id``),
        or the same error. After a 401/403 or a 429, the remaining requests are
        not attempted and get that same error: they would only fail the same way.
        Network failures are TRANSIENT with a code that says what is known:
        "connection_error" (nothing was sent), "timeout" and "connection_lost"
        (sent, outcome unknown: SendGrid may have accepted it).
        """
        results: list[SendResult | None] = [None] * len(messages)
        plan, refused = self._plan(messages)
        for index, refusal in refused.items():
            results[index] = SendResult(messages[index].message_id, error=refusal)
        stop: ChannelError | None = None
        for request, indices in plan:
            provider_id: str | None = None
            error: ChannelError | None = stop
            if stop is None:
                provider_id, error = self._post(request)
            if error is not None and (error.kind is ErrorKind.MISCONFIGURED or error.code == "429"):
                stop = error
            for index in indices:
                results[index] = SendResult(messages[index].message_id, provider_id, error)
        return [r for r in results if r is not None]

    def _post(self, request: MailSendRequest) -> tuple[str | None, ChannelError | None]:
        try:
            response = self._sdk.send_payload(request.payload)
        except SendGridHTTPError as exc:
            headers = exc.headers or {}
            return None, classify_sendgrid_error(
                exc.status_code, exc.body, headers, now=self._clock()
            )
        except (
            urllib3.exceptions.NewConnectionError,
            urllib3.exceptions.ConnectTimeoutError,
        ) as exc:
            # Never connected, so nothing was sent (NewConnectionError is a ConnectTimeoutError).
            return None, _transient("connection_error", exc)
        except urllib3.exceptions.ReadTimeoutError as exc:
            # Sent, no answer: SendGrid may have accepted it; the dispatcher treats this as unknown.
            return None, _transient("timeout", exc, maybe_sent=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            # Dropped while sending or answering: the outcome is unknown too.
            return None, _transient("connection_lost", exc, maybe_sent=True)
        return response.headers.get("X-Message-Id"), None

    def close(self) -> None:
        """Close pooled connections; the next ``send`` opens a new one."""
        self._sdk.close()


def _transient(code: str, exc: BaseException, *, maybe_sent: bool = False) -> ChannelError:
    return ChannelError(ErrorKind.TRANSIENT, code, str(exc) or type(exc).__name__, maybe_sent=maybe_sent)


def _categories(message: OutgoingMessage) -> tuple[str, ...]:
    """Distinct categories in order, each cut to 255 characters, at most 10.

    Categories are reporting labels; cutting a long campaign name is better than
    refusing to send a survey because of it.
    """
    return _distinct_categories(tuple(message.categories))


@lru_cache(maxsize=256)  # a step's messages share their categories
def _distinct_categories(categories: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for category in categories:
        seen.setdefault(category[:MAX_CATEGORY_CHARS], None)
    return tuple(list(seen)[:MAX_CATEGORIES])
