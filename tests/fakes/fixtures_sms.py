"""Pytest fixtures for the SMS and in-app channels; ``tests/channels/conftest.py`` star-imports them.

Only fixtures live here (every public name is one), so the star import adds nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from channels.base import OutgoingMessage
from channels.in_app import InMemoryPromptStore
from channels.ratelimit import InMemoryTokenBucket, RateLimit
from channels.twilio_sms import TwilioConfig, TwilioSmsChannel
from tests.fakes.twilio_fake import FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, TwilioFake

__all__ = [
    "in_app_message",
    "prompt_store",
    "sms_channel",
    "sms_message",
    "twilio_config",
    "twilio_fake",
]


@pytest.fixture
def twilio_fake() -> Iterator[TwilioFake]:
    """A started Twilio fake with no rate limit; stopped after the test."""
    fake = TwilioFake()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def twilio_config(twilio_fake: TwilioFake) -> TwilioConfig:
    """Sending from a long code through the fake."""
    return TwilioConfig(
        account_sid=FAKE_ACCOUNT_SID,
        auth_token=FAKE_AUTH_TOKEN,
        status_callback_url="https://pulse.example.com/v1/webhooks/twilio/status",
        from_number="+15005550006",
        api_base_url=twilio_fake.base_url,
        timeout=5.0,
    )


@pytest.fixture
def sms_channel(twilio_config: TwilioConfig) -> Iterator[TwilioSmsChannel]:
    """The Twilio adapter with a limiter loose enough never to wait."""
    limiter = InMemoryTokenBucket(default=RateLimit(per_second=10_000, burst=10_000))
    channel = TwilioSmsChannel(twilio_config, rate_limiter=limiter)
    yield channel
    channel.close()


@pytest.fixture
def sms_message() -> Callable[..., OutgoingMessage]:
    """Builds an SMS ``OutgoingMessage``; keyword arguments override the defaults."""
    counter = iter(range(1, 1_000_000))

    def build(**overrides: object) -> OutgoingMessage:
        fields: dict[str, object] = {
            "message_id": f"msg_{next(counter)}",
            "channel": "sms",
            "to": "+14155550100",
            "text": "How likely are you to recommend Acme? Reply 0-10.",
        }
        fields.update(overrides)
        return OutgoingMessage(**fields)  # type: ignore[arg-type]

    return build


@pytest.fixture
def prompt_store() -> InMemoryPromptStore:
    return InMemoryPromptStore()


@pytest.fixture
def in_app_message() -> Callable[..., OutgoingMessage]:
    """Builds an in-app ``OutgoingMessage`` whose step ends in a week."""
    counter = iter(range(1, 1_000_000))

    def build(**overrides: object) -> OutgoingMessage:
        fields: dict[str, object] = {
            "message_id": f"inapp_{next(counter)}",
            "channel": "in_app",
            "to": "contact-42",
            "text": "How likely are you to recommend Acme?",
            "expires_at": datetime.now(UTC) + timedelta(days=7),
            "payload": {"kind": "nps", "scale": [0, 10], "token": "tok_abc"},
        }
        fields.update(overrides)
        return OutgoingMessage(**fields)  # type: ignore[arg-type]

    return build
