"""The one small interface every channel adapter implements.

An adapter turns rendered messages into provider requests (``build_requests``,
pure, unit-testable without HTTP) and sends them (``send``), returning one
``SendResult`` per message. Adapters never swallow errors and never retry: a
failure is reported as a ``ChannelError`` whose ``kind`` tells the dispatcher
what to do (retry, give up, suppress the address, or stop the step).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol


class ErrorKind(str, enum.Enum):
    TRANSIENT = "transient"  # try again later (timeouts, 5xx, rate limits)
    PERMANENT = "permanent"  # give up on this message, keep the provider's code and text
    OPTED_OUT = "opted_out"  # the recipient opted out at the provider: suppress the address
    MISCONFIGURED = "misconfigured"  # our credentials or sender are wrong: stop the step, alert


@dataclass(frozen=True)
class ChannelError:
    kind: ErrorKind
    code: str
    text: str
    retry_after: float | None = None  # seconds, when the provider said how long to wait
    # The request may have reached the provider (a timeout after sending, a dropped
    # connection): retrying could deliver twice, so the dispatcher reports it unknown.
    maybe_sent: bool = False

    def describe(self) -> str:
        return f"{self.kind.value} {self.code}: {self.text}"


HTML_TOKEN_SUFFIX = "_html-"  # -pulse_name- is a placeholder's raw value, -pulse_name_html- its HTML-escaped one


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one recipient, as rendered by ``templates``.

    ``subject``, ``text`` and ``html`` may hold per-recipient placeholders
    (keys of ``substitutions``, for example ``-pulse_first_name-``). Messages
    whose content is identical apart from their substitutions can travel in one
    provider request (SendGrid personalizations); other adapters call
    ``materialize`` to fill them in locally.
    """

    message_id: str  # Pulse's own id; echoed back by providers (custom_args, StatusCallback)
    channel: str  # "email", "sms" or "in_app"
    to: str  # email address, E.164 phone number, or contact external id (in-app)
    text: str
    subject: str | None = None
    html: str | None = None
    substitutions: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # may hold placeholders too
    categories: tuple[str, ...] = ()
    custom_args: Mapping[str, str] = field(default_factory=dict)
    to_name: str | None = None
    reply_to: str | None = None  # email: where a reply goes when not to From (the account owner)
    expires_at: datetime | None = None  # in-app prompts: the end of the step
    payload: Mapping[str, Any] = field(default_factory=dict)  # in-app: question, scale, token

    def per_part(self) -> OutgoingMessage:
        """The same message whose HTML names only the escaped variant of each placeholder
        (``-pulse_x_html-``) and whose text, subject and headers only the raw one (``-pulse_x-``).

        A provider substitutes the same way in every part (SendGrid has no per-part
        substitutions), so a raw token that reached the HTML (a question quoting the
        contact's name) would put contact-supplied markup into it unescaped.
        """
        pairs = _html_pairs(tuple(self.substitutions))
        if not pairs:
            return self
        # A step's messages share one content: the swapped parts are computed once (cached).
        text, subject, html = _swap(self.text, pairs, 1) or "", _swap(self.subject, pairs, 1), _swap(self.html, pairs, 0)
        tokens = self._tokens_in_headers()
        if text == self.text and subject == self.subject and html == self.html and not tokens:
            return self  # rendered as the providers substitute (the usual case): nothing to swap
        headers = {k: _swap(v, pairs, 1) or "" for k, v in self.headers.items()} if tokens else self.headers
        return replace(self, text=text, subject=subject, html=html, headers=headers)

    def _tokens_in_headers(self) -> bool:
        """Whether a header value names a placeholder (the unsubscribe headers carry their values)."""
        if not self.headers:
            return False
        keys = tuple(self.substitutions)
        prefix = _common_prefix(keys)  # "-pulse_": a plain substring test settles nearly every message
        if prefix and not any(prefix in value for value in self.headers.values()):
            return False
        tokens = placeholder_pattern(keys)
        return any(tokens.search(value) for value in self.headers.values())

    def materialize(self) -> OutgoingMessage:
        """The same message with every placeholder replaced by its value (HTML escaped in HTML)."""
        if not self.substitutions:
            return self
        parted = self.per_part()
        fill = placeholder_filler(parted.substitutions)
        return replace(
            parted, text=fill(parted.text) or "", subject=fill(parted.subject), html=fill(parted.html),
            substitutions={}, headers={k: fill(v) or "" for k, v in parted.headers.items()},
        )

    def filled_headers(self) -> dict[str, str]:
        """``materialize().headers`` without filling the subject and body (providers do those)."""
        if not self.substitutions or not self._tokens_in_headers():
            return dict(self.headers)
        parted = self.per_part()
        fill = placeholder_filler(parted.substitutions)
        return {k: fill(v) or "" for k, v in parted.headers.items()}


@lru_cache(maxsize=256)
def _html_pairs(keys: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(raw token, HTML token) for each placeholder that has both variants."""
    present = set(keys)
    return tuple((key, key[:-1] + HTML_TOKEN_SUFFIX) for key in keys
                 if not key.endswith(HTML_TOKEN_SUFFIX) and key[:-1] + HTML_TOKEN_SUFFIX in present)


@lru_cache(maxsize=1024)
def _swap(value: str | None, pairs: tuple[tuple[str, str], ...], old: int) -> str | None:
    if value is None:
        return None
    for pair in pairs:
        value = value.replace(pair[old], pair[1 - old])
    return value


@lru_cache(maxsize=256)
def _common_prefix(keys: tuple[str, ...]) -> str:
    return os.path.commonprefix(keys) if keys else ""


@lru_cache(maxsize=256)
def placeholder_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(key) for key in sorted(keys, key=len, reverse=True)))


def placeholder_filler(substitutions: Mapping[str, str]) -> Any:
    """Replace every placeholder in one pass: a value that happens to contain another
    placeholder's token stays as it is."""
    tokens = placeholder_pattern(tuple(substitutions))

    def fill(value: str | None) -> str | None:
        return None if value is None else tokens.sub(lambda found: substitutions[found.group()], value)

    return fill


@dataclass(frozen=True)
class SendResult:
    message_id: str
    provider_message_id: str | None = None
    error: ChannelError | None = None
    segments: int | None = None  # SMS only
    encoding: str | None = None  # SMS only: "GSM-7" or "UCS-2"

    @property
    def ok(self) -> bool:
        return self.error is None


class Channel(Protocol):
    """What the dispatcher needs from an adapter."""

    name: str  # the registry key, e.g. "sendgrid"
    max_batch: int  # how many messages one ``send`` call should be given at most
    # An adapter whose ``send`` may run in two threads at once sets ``max_in_flight = 2``
    # (read with getattr, default 1): the dispatcher then overlaps requests with database work.
    # An adapter whose request carries one content for many recipients sets ``request_per_content
    # = True`` (read with getattr, default False): the dispatcher then gives each call one content.

    @property
    def medium(self) -> str:
        """Which contact address it uses: "email", "sms" or "in_app" (read only, so an adapter may narrow its type)."""
        ...

    def build_requests(self, messages: Sequence[OutgoingMessage]) -> list[Any]:
        """The provider requests ``send`` would make, without making them."""
        ...

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Hand the messages to the provider; one result per message, same order.

        Never raises for a provider error: each message's result carries it.
        """
        ...

    def close(self) -> None:
        """Release connections; the adapter may be used again afterwards."""
        ...
