"""The hand-off's per-message values (``RecipientValues``) are exactly the templates' own.

The hand-off derives each message's substitutions when it sends, with the link
keys and expiries worked out once per chunk; what it derives must be what
``recipient_substitutions`` and ``make_token`` give, key for key and in order
(SendGrid receives them as JSON), and the links must open the survey.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from dispatcher.answers.tokens import SIGNATURE_CHARS, Signer, make_token, read_token
from dispatcher.runtime.settings import Settings
from dispatcher.sending.contents import RecipientValues, values_for
from templates import recipient_substitutions

SETTINGS = Settings(environment="test", secret_key=SecretStr("recipient-values-secret-0123456789-abcdef"), public_url="https://pulse.example.com/")
PLANNED = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def templates_values(*, public_id: str, name: str | None, locale: str | None, step_id: int | None) -> dict[str, str]:
    secret = SETTINGS.secret_key.get_secret_value()
    subject = public_id if step_id is None else f"{public_id}~{step_id}"
    answer = make_token(secret, purpose="answer", subject=subject, expires_at=PLANNED + timedelta(days=SETTINGS.link_ttl_days))
    unsubscribe = make_token(secret, purpose="unsubscribe", subject=public_id, expires_at=PLANNED + timedelta(days=SETTINGS.unsubscribe_ttl_days))
    name = name or ""
    return recipient_substitutions({
        "first_name": name.split()[0] if name.strip() else "", "name": name,
        "answer_url": f"https://pulse.example.com/r/{answer}", "unsubscribe_url": f"https://pulse.example.com/u/{unsubscribe}",
    }, locale=locale or "en")


@pytest.mark.parametrize("name", ["Ana Lima", "", "   ", None, "<b>O'Brien</b> & \"co\"", "Jörg  Müller", "李 小龙"])
@pytest.mark.parametrize("locale", ["en", "de", "de-AT", "fr", None])
@pytest.mark.parametrize("step_id", [None, 42])
def test_values_are_the_templates_own_key_for_key_and_in_order(name: str | None, locale: str | None, step_id: int | None) -> None:
    expected = templates_values(public_id="Ab-9_xY", name=name, locale=locale, step_id=step_id)
    values = RecipientValues(SETTINGS)
    for _ in range(2):  # the second message of a chunk reuses the keys and expiries
        got = values.values(public_id="Ab-9_xY", name=name, locale=locale, planned_at=PLANNED, step_id=step_id)
        assert list(got.items()) == list(expected.items())
    assert values_for(SETTINGS, public_id="Ab-9_xY", name=name, locale=locale, planned_at=PLANNED, step_id=step_id) == expected


def test_each_link_opens_for_its_own_purpose_and_until_its_expiry() -> None:
    values = RecipientValues(SETTINGS).values(public_id="pub1", name="Ana", locale="en", planned_at=PLANNED, step_id=3)
    secret = SETTINGS.secret_key.get_secret_value()
    answer = values["-pulse_answer_url-"].rpartition("/")[2]
    unsubscribe = values["-pulse_unsubscribe_url-"].rpartition("/")[2]
    assert read_token(secret, answer, purpose="answer", now=PLANNED) == "pub1~3"
    assert read_token(secret, unsubscribe, purpose="unsubscribe", now=PLANNED + timedelta(days=364)) == "pub1"
    with pytest.raises(ValueError):
        read_token(secret, answer, purpose="unsubscribe", now=PLANNED)


def test_the_links_last_as_long_as_the_settings_say() -> None:
    settings = SETTINGS.model_copy(update={"link_ttl_days": 10, "unsubscribe_ttl_days": 30})
    values = RecipientValues(settings).values(public_id="pub1", name="Ana", locale="en", planned_at=PLANNED)
    secret = settings.secret_key.get_secret_value()
    answer = values["-pulse_answer_url-"].rpartition("/")[2]
    unsubscribe = values["-pulse_unsubscribe_url-"].rpartition("/")[2]
    assert read_token(secret, answer, purpose="answer", now=PLANNED + timedelta(days=9)) == "pub1"
    assert read_token(secret, unsubscribe, purpose="unsubscribe", now=PLANNED + timedelta(days=29)) == "pub1"
    with pytest.raises(ValueError):
        read_token(secret, answer, purpose="answer", now=PLANNED + timedelta(days=11))
    with pytest.raises(ValueError):
        read_token(secret, unsubscribe, purpose="unsubscribe", now=PLANNED + timedelta(days=31))


@pytest.mark.parametrize("secret", ["k", "recipient-values-secret-0123456789-abcdef", "x" * 64, "y" * 65, "ключ-" * 30])
def test_a_signature_is_hmac_sha256_of_purpose_and_payload(secret: str) -> None:
    """``Signer`` writes HMAC out over two hash states: the same bytes as ``hmac.new`` for keys
    shorter than SHA-256's block, exactly one block, and longer (hashed first)."""
    payload = "AbC123xyz~7.t1x2y3"
    expected = base64.urlsafe_b64encode(hmac.new(secret.encode(), f"answer:{payload}".encode(), hashlib.sha256).digest()).decode()[:SIGNATURE_CHARS]
    assert Signer(secret, "answer").signature(payload) == expected
    assert Signer(secret, "unsubscribe").signature(payload) != expected
