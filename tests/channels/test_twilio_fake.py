"""The Twilio fake refuses what Twilio would refuse, so adapter tests can trust it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qsl

import pytest
import requests
from twilio.request_validator import RequestValidator

from tests.fakes.twilio_fake import FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN, TwilioFake

AUTH = (FAKE_ACCOUNT_SID, FAKE_AUTH_TOKEN)
VALID = {"To": "+14155550100", "From": "+15005550006", "Body": "Hello"}


def post(
    fake: TwilioFake,
    form: dict[str, str],
    auth: tuple[str, str] = AUTH,
    account: str = FAKE_ACCOUNT_SID,
) -> requests.Response:
    url = f"{fake.base_url}/2010-04-01/Accounts/{account}/Messages.json"
    return requests.post(url, data=form, auth=auth, timeout=5)


def test_a_valid_request_gets_a_queued_message_resource(twilio_fake: TwilioFake) -> None:
    answer = post(twilio_fake, {**VALID, "Body": "a" * 161})

    assert answer.status_code == 201
    message = answer.json()
    assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
    assert (message["status"], message["num_segments"], message["to"]) == (
        "queued",
        "2",
        VALID["To"],
    )
    assert [m.sid for m in twilio_fake.accepted] == [message["sid"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"MessagingServiceSid": "MG123", "From": ""}, "MessagingServiceSid"),  # pattern, length
        ({"ValidityPeriod": "soon"}, "ValidityPeriod"),  # integer
        ({"RiskCheck": "maybe"}, "RiskCheck"),  # enum
    ],
)
def test_a_request_breaking_the_published_schema_is_rejected(
    twilio_fake: TwilioFake, change: dict[str, str], field: str
) -> None:
    answer = post(twilio_fake, {**VALID, **change})

    assert answer.status_code == 400
    assert answer.json()["code"] == 20001
    assert f"body.{field}" in answer.json()["message"]
    assert twilio_fake.accepted == []


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": "+15005550006", "Body": "Hi"}, 21604),  # no To
        ({**VALID, "To": "415-555-0100"}, 21211),  # not E.164
        ({"To": "+14155550100", "Body": "Hi"}, 21603),  # no sender
        ({**VALID, "MessagingServiceSid": "MG" + "0" * 32}, 21603),  # two senders
        ({"To": "+14155550100", "From": "+15005550006"}, 21602),  # nothing to send
    ],
)
def test_twilios_own_rules_are_enforced(
    twilio_fake: TwilioFake, form: dict[str, str], code: int
) -> None:
    answer = post(twilio_fake, form)

    assert answer.status_code == 400
    assert answer.json()["code"] == code
    assert answer.json()["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


def test_wrong_credentials_get_twilios_401(twilio_fake: TwilioFake) -> None:
    answer = post(twilio_fake, VALID, auth=(FAKE_ACCOUNT_SID, "wrong"))

    assert answer.status_code == 401
    assert answer.json()["code"] == 20003
    assert twilio_fake.accepted == []


def test_another_accounts_path_is_not_found(twilio_fake: TwilioFake) -> None:
    answer = post(twilio_fake, VALID, account="AC" + "f" * 32)
    assert (answer.status_code, answer.json()["code"]) == (404, 20404)


def test_requests_above_the_senders_rate_are_violations_answered_429() -> None:
    fake = TwilioFake(mps=0.01)  # one message per 100 s: the second is always too early
    fake.start()
    try:
        first, second = post(fake, VALID), post(fake, VALID)
        other_sender = post(fake, {**VALID, "From": "+15005550007"})
    finally:
        fake.stop()
    assert (first.status_code, other_sender.status_code) == (201, 201)
    assert (second.status_code, second.json()["code"]) == (429, 20429)
    assert len(fake.violations) == 1


class _CallbackReceiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append((self.path, dict(parse_qsl(body)), self.headers["X-Twilio-Signature"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def callback_url() -> Iterator[str]:
    _CallbackReceiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CallbackReceiver)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/webhooks/twilio/status"
    server.shutdown()
    server.server_close()


def test_status_callbacks_are_posted_in_order_and_signed_with_the_auth_token(
    callback_url: str,
) -> None:
    fake = TwilioFake(status_callbacks=True)
    fake.start()
    try:
        url = f"{callback_url}?pulse_message_id=msg_9"
        sid = post(fake, {**VALID, "StatusCallback": url}).json()["sid"]
        posted = fake.wait_for_callbacks(3)
    finally:
        fake.stop()

    assert [c.params["MessageStatus"] for c in posted] == ["queued", "sent", "delivered"]
    assert all(c.status == 204 and c.params["MessageSid"] == sid for c in posted)
    validator = RequestValidator(FAKE_AUTH_TOKEN)
    for path, params, signature in _CallbackReceiver.received:
        assert path == "/v1/webhooks/twilio/status?pulse_message_id=msg_9"
        assert validator.validate(url, params, signature)
        assert not RequestValidator("another-token").validate(url, params, signature)
    assert len(_CallbackReceiver.received) == 3
