"""A Mail Send body never carries a SendGrid API key in its content.

The SDK's mail helpers refused such content (``sendgrid/helpers/mail/validators.py``,
``ValidateApiKey``); our bodies are plain dicts, so the adapter checks it itself,
once per content (request), against the real SendGrid fake.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from channels.base import ErrorKind, OutgoingMessage
from channels.sendgrid import SendGridChannel, SendGridConfig
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake

Make = Callable[..., OutgoingMessage]
SHAPED_KEY = "SG." + "a1B2c3D4e5F6g7H8i9J0kL" + "." + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp_Oo-Nn1Mm2L"  # 22 and 43 characters


@pytest.fixture
def channel(sendgrid_fake: SendGridFake):
    channel = SendGridChannel(SendGridConfig(api_key=FAKE_API_KEY, base_url=sendgrid_fake.base_url, from_email="surveys@pulse.example"))
    yield channel
    channel.close()


@pytest.mark.parametrize("part", ["subject", "text", "html"])
@pytest.mark.parametrize("key", [FAKE_API_KEY, SHAPED_KEY], ids=["our key", "any key"])
def test_content_holding_an_api_key_is_refused_and_never_posted(
    channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make, part: str, key: str
) -> None:
    leaking = [email_message(n) for n in range(3)]
    leaking = [OutgoingMessage(**{**vars(m), part: f"{getattr(m, part)} (debug: {key})"}) for m in leaking]
    clean = [email_message(n) for n in range(3, 5)]
    results = channel.send([*leaking, *clean])
    assert [r.message_id for r in results] == [m.message_id for m in [*leaking, *clean]]
    for result in results[:3]:
        assert result.error is not None and result.error.kind is ErrorKind.PERMANENT and result.error.code == "api_key_in_content"
    assert all(r.ok for r in results[3:])
    (request,) = sendgrid_fake.requests  # only the clean content went out
    assert request.recipients == ["contact3@customer.example", "contact4@customer.example"]
    assert key not in repr(request.body)
    assert channel.build_requests(leaking) == []


def test_a_key_only_in_a_recipients_values_is_not_content(channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make) -> None:
    # As the SDK's check: content only (a contact's name is theirs to choose).
    message = email_message(0, substitutions={"-pulse_first_name-": "SG.x.y", "-pulse_token-": "tok0"})
    (result,) = channel.send([message])
    assert result.ok and len(sendgrid_fake.requests) == 1


def test_a_short_stub_key_does_not_refuse_ordinary_words(sendgrid_fake: SendGridFake, email_message: Make) -> None:
    # A development stub such as "test" is no secret: looking for it would refuse any text that says "test".
    channel = SendGridChannel(SendGridConfig(api_key="test", base_url=sendgrid_fake.base_url, from_email="surveys@pulse.example"))
    try:
        (result,) = channel.send([email_message(0, text="A test of -pulse_first_name-'s patience")])
    finally:
        channel.close()
    assert result.error is None or result.error.code != "api_key_in_content"
