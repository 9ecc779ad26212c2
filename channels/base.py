"""The one small interface every channel adapter implements.

An adapter turns rendered messages into provider requests (``build_requests``,
pure, unit-testable without HTTP) and sends them (``send``), returning one
``SendResult`` per message. Adapters never swallow errors and never retry: a
failure is reported as a ``ChannelError`` whose ``kind`` tells the dispatcher
what to do (retry, give up, suppress the address, or stop the step).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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
    expires_at: datetime | None = None  # in-app prompts: the end of the step
    payload: Mapping[str, Any] = field(default_factory=dict)  # in-app: question, scale, token

    def materialize(self) -> OutgoingMessage:
        """The same message with every placeholder replaced by its value."""
        if not self.substitutions:
            return self

        def fill(value: str | None) -> str | None:
            if value is None:
                return None
            for key, replacement in self.substitutions.items():
                value = value.replace(key, replacement)
            return value

        return OutgoingMessage(
            message_id=self.message_id,
            channel=self.channel,
            to=self.to,
            text=fill(self.text) or "",
            subject=fill(self.subject),
            html=fill(self.html),
            substitutions={},
            headers={k: fill(v) or "" for k, v in self.headers.items()},
            categories=self.categories,
            custom_args=self.custom_args,
            to_name=self.to_name,
            expires_at=self.expires_at,
            payload=self.payload,
        )


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
    medium: str  # "email", "sms" or "in_app": which contact address it uses
    max_batch: int  # how many messages one ``send`` call should be given at most

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
