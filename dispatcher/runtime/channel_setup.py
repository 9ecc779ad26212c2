"""Building the channel adapters from settings: which media work, and with what.

A channel without credentials is unavailable: its medium is left out of
``available_media``, so campaign preview and selection say so instead of
failing at send time.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from channels.base import Channel
from channels.in_app import InAppChannel
from channels.outbound import GuardedTransport
from channels.outbox import Medium, OutboxChannel, OutboxConfig
from channels.ratelimit import InMemoryTokenBucket, RateLimit, RedisTokenBucket
from channels.registry import ADAPTERS
from channels.sendgrid import SendGridConfig
from channels.slack import SlackChannel
from channels.smtp import SMTPConfig
from channels.twilio_sms import TwilioConfig
from dispatcher.runtime.settings import Settings


def email_channel_name(settings: Settings) -> str | None:
    if settings.email_channel == "outbox":
        return "outbox_email"
    if settings.email_channel == "sendgrid":
        return "sendgrid" if settings.sendgrid_api_key else None
    return "smtp" if settings.smtp_host else None


def sms_channel_name(settings: Settings) -> str | None:
    if settings.sms_channel == "outbox":
        return "outbox_sms"
    ready = settings.twilio_account_sid and settings.twilio_auth_token and (settings.twilio_from_number or settings.twilio_messaging_service_sid)
    return "twilio" if ready else None


def channel_names(settings: Settings) -> dict[str, str]:
    """The adapter serving each available medium."""
    names = {"in_app": "in_app", "slack": "slack"}
    if (email := email_channel_name(settings)) is not None:
        names["email"] = email
    if (sms := sms_channel_name(settings)) is not None:
        names["sms"] = sms
    return names


def unavailable_reasons(settings: Settings) -> dict[str, str]:
    reasons = {}
    if email_channel_name(settings) is None:
        needs = "PULSE_SENDGRID_API_KEY" if settings.email_channel == "sendgrid" else "PULSE_SMTP_HOST"
        reasons["email"] = f"email channel {settings.email_channel} has no credentials: set {needs}"
    if sms_channel_name(settings) is None:
        reasons["sms"] = "twilio needs PULSE_TWILIO_ACCOUNT_SID, PULSE_TWILIO_AUTH_TOKEN and a From number or Messaging Service SID"
    return reasons


def _from_parts(settings: Settings) -> tuple[str, str | None]:
    from email.utils import parseaddr

    name, address = parseaddr(settings.email_from)
    return address, name or None


class ChannelSet:
    """The adapters of one process, built on first use. Adapters are not thread-safe,
    so each thread gets its own."""

    def __init__(self, settings: Settings, *, prompt_store: Any, clock: Any = None) -> None:
        self.settings = settings
        self._clock = clock  # the runtime's clock: in-app prompt expiry follows it (tests, demo)
        self.names = channel_names(settings)
        self._prompt_store = prompt_store
        self._local = threading.local()
        self._all: list[Channel] = []
        self._lock = threading.Lock()
        self._limiter: Any = None

    def for_medium(self, medium: str) -> Channel:
        adapters: dict[str, Channel] = self._local.__dict__.setdefault("adapters", {})
        if medium not in adapters:
            adapters[medium] = self._build(medium)
            with self._lock:
                self._all.append(adapters[medium])
        return adapters[medium]

    def _rate_limiter(self) -> Any:
        with self._lock:
            if self._limiter is None:
                limit = RateLimit(per_second=self.settings.sms_mps, burst=1)
                if self.settings.redis_url:
                    self._limiter = RedisTokenBucket.from_url(self.settings.redis_url, default=limit)
                else:
                    self._limiter = InMemoryTokenBucket(default=limit)
            return self._limiter

    def _build(self, medium: str) -> Channel:
        s = self.settings
        name = self.names.get(medium)
        if name is None:
            raise LookupError(f"no {medium} channel is configured")
        adapter = ADAPTERS[name]
        address, display = _from_parts(s)
        if name in ("outbox_email", "outbox_sms"):
            # One spool file per send; the message files are expanded from it once sends pause (channels/outbox.py).
            # OutboxConfig refuses a medium other than email and sms.
            return OutboxChannel(OutboxConfig(directory=s.outbox_dir, medium=cast(Medium, medium), from_email=address, from_name=display, from_number=s.twilio_from_number or "Pulse"), background=True)
        if name == "sendgrid":
            assert s.sendgrid_api_key is not None
            return adapter(SendGridConfig(api_key=s.sendgrid_api_key.get_secret_value(), from_email=address, from_name=display, base_url=s.sendgrid_base_url, timeout=s.provider_timeout_seconds, max_personalizations=s.sendgrid_max_personalizations))
        if name == "smtp":
            assert s.smtp_host is not None
            return adapter(SMTPConfig(
                host=s.smtp_host, port=s.smtp_port, from_email=address, from_name=display, security=s.smtp_security,
                username=s.smtp_username, password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                timeout=s.provider_timeout_seconds,
            ))
        if name == "twilio":
            assert s.twilio_account_sid and s.twilio_auth_token
            return adapter(TwilioConfig(
                account_sid=s.twilio_account_sid, auth_token=s.twilio_auth_token.get_secret_value(),
                status_callback_url=f"{s.public_url.rstrip('/')}/webhooks/twilio/status",
                from_number=s.twilio_from_number, messaging_service_sid=s.twilio_messaging_service_sid,
                api_base_url=s.twilio_base_url, timeout=s.provider_timeout_seconds,
                # Small chunks: SMS go out one per request at a few per second, and a
                # pause must stop a batch within seconds, not after a hundred messages.
                max_batch=10,
            ), rate_limiter=self._rate_limiter())
        if name == "in_app":
            return InAppChannel(self._prompt_store, clock=self._clock.now) if self._clock else InAppChannel(self._prompt_store)
        return SlackChannel(transport=GuardedTransport(self.settings.outbound_policy))

    def flush(self) -> None:
        """Write what this thread's adapters still hold back (the outbox's files of the messages they accepted)."""
        for adapter in self._local.__dict__.get("adapters", {}).values():
            flush = getattr(adapter, "flush", None)
            if flush is not None:
                flush()

    def close(self) -> None:
        with self._lock:
            for adapter in self._all:
                adapter.close()
            self._all.clear()
        self._local = threading.local()
