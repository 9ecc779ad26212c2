"""Pytest fixtures for the email channels; ``tests/channels/conftest.py`` star-imports them.

Only fixtures live here (every public name is one), so the star import adds nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.base import OutgoingMessage
from channels.email_headers import list_unsubscribe_headers
from channels.sendgrid import SendGridChannel, SendGridConfig
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake
from tests.fakes.smtp_server import SMTPTestServer, TlsFiles, make_test_certificates

__all__ = [
    "email_message",
    "sendgrid_channel",
    "sendgrid_fake",
    "smtp_server",
    "smtp_server_factory",
    "tls_certificates",
]


@pytest.fixture
def sendgrid_fake() -> Iterator[SendGridFake]:
    """A local SendGrid (``base_url``, ``FAKE_API_KEY``), fresh for each test."""
    fake = SendGridFake()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def sendgrid_channel(sendgrid_fake: SendGridFake) -> Iterator[SendGridChannel]:
    config = SendGridConfig(
        api_key=FAKE_API_KEY,
        base_url=sendgrid_fake.base_url,
        from_email="surveys@pulse.example",
        from_name="Pulse Surveys",
        timeout=5.0,
    )
    channel = SendGridChannel(config)
    yield channel
    channel.close()


@pytest.fixture(scope="session")
def tls_certificates(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA (``ca_file``) and a server certificate for localhost and 127.0.0.1."""
    return make_test_certificates(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def smtp_server_factory(
    tls_certificates: TlsFiles,
) -> Iterator[Callable[..., SMTPTestServer]]:
    """Start aiosmtpd servers: ``start(starttls=, implicit_tls=, credentials=)``."""
    started: list[SMTPTestServer] = []

    def start(**options: Any) -> SMTPTestServer:
        server = SMTPTestServer(certificates=tls_certificates, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(smtp_server_factory: Callable[..., SMTPTestServer]) -> SMTPTestServer:
    """A plain SMTP server (no TLS, no login) on a free port."""
    return smtp_server_factory()


@pytest.fixture
def email_message() -> Callable[..., OutgoingMessage]:
    """``make(n, **changes)``: the n-th recipient of one invite, unsubscribe token and all."""

    def make(n: int = 0, **changes: Any) -> OutgoingMessage:
        fields: dict[str, Any] = {
            "message_id": f"msg-{n}",
            "channel": "email",
            "to": f"contact{n}@customer.example",
            "to_name": f"Contact {n}",
            "subject": "How likely are you to recommend us, -pulse_first_name-?",
            "text": "Hi -pulse_first_name-, answer here: https://p.example/r/-pulse_token-",
            "html": "<p>Hi -pulse_first_name-, <a href='https://p.example/r/-pulse_token-'>answer</a></p>",
            "substitutions": {"-pulse_first_name-": f"Name{n}", "-pulse_token-": f"tok{n}"},
            "headers": list_unsubscribe_headers(f"https://p.example/u/tok{n}"),
            "categories": ("pulse", "campaign-7", "invite"),
            "custom_args": {"pulse_campaign_id": "7"},
        }
        fields.update(changes)
        return OutgoingMessage(**fields)

    return make
