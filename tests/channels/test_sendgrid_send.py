"""The SendGrid adapter sending through the official SDK to the local SendGrid fake."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from channels.base import ErrorKind, OutgoingMessage
from channels.sendgrid import SendGridChannel, SendGridConfig, classify_sendgrid_error
from tests.fakes.sendgrid_fake import FAKE_API_KEY, SendGridFake

Make = Callable[..., OutgoingMessage]
NOW = 1_800_000_000.0  # the adapter's clock in these tests, epoch seconds


def make_channel(fake: SendGridFake, **changes: object) -> SendGridChannel:
    settings: dict[str, object] = {
        "api_key": FAKE_API_KEY,
        "base_url": fake.base_url,
        "from_email": "surveys@pulse.example",
        "from_name": "Pulse Surveys",
        "timeout": 5.0,
    }
    settings.update(changes)
    return SendGridChannel(SendGridConfig(**settings), clock=lambda: NOW)  # type: ignore[arg-type]


@pytest.fixture
def channel(sendgrid_fake: SendGridFake):
    channel = make_channel(sendgrid_fake)
    yield channel
    channel.close()


def test_every_message_of_an_accepted_request_gets_its_x_message_id(
    channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    # Two kinds of content, interleaved: two requests, results still in the callers' order.
    messages = [email_message(n, html=None if n % 2 else email_message(n).html) for n in range(6)]
    results = channel.send(messages)
    assert [r.message_id for r in results] == [m.message_id for m in messages]
    assert all(r.ok for r in results)
    with_html, text_only = sendgrid_fake.requests
    assert [r.provider_message_id for r in results] == [
        (text_only if n % 2 else with_html).message_id for n in range(6)
    ]
    assert with_html.recipients == [f"contact{n}@customer.example" for n in (0, 2, 4)]


def test_the_request_is_the_sdks_with_our_bearer_key(
    channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    channel.send([email_message(0)])
    (request,) = sendgrid_fake.requests
    assert request.headers["authorization"] == f"Bearer {FAKE_API_KEY}"
    assert request.headers["user-agent"].startswith("sendgrid/")
    assert request.body["personalizations"][0]["custom_args"]["pulse_message_id"] == "msg-0"


def test_one_connection_carries_every_request_across_batches(
    channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    results = channel.send([email_message(n) for n in range(2500)])  # three requests
    results += channel.send([email_message(n) for n in range(3000, 3010)])
    assert {r.error for r in results} == {None}  # when a request fails, what failed shows here
    assert [len(r.body["personalizations"]) for r in sendgrid_fake.requests] == [
        1000,
        1000,
        500,
        10,
    ]
    assert sendgrid_fake.connections_opened == 1
    assert {r.connection_id for r in sendgrid_fake.requests} == {1}


def test_close_drops_the_connection_and_the_adapter_still_works(
    channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    channel.send([email_message(0)])
    channel.close()
    assert channel.send([email_message(1)])[0].ok
    assert sendgrid_fake.connections_opened == 2


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.PERMANENT),
        (401, ErrorKind.MISCONFIGURED),
        (403, ErrorKind.MISCONFIGURED),
        (413, ErrorKind.PERMANENT),
        (500, ErrorKind.TRANSIENT),
        (503, ErrorKind.TRANSIENT),
    ],
)
def test_an_error_answer_is_every_messages_error(
    channel: SendGridChannel,
    sendgrid_fake: SendGridFake,
    email_message: Make,
    status: int,
    kind: ErrorKind,
) -> None:
    sendgrid_fake.fail_next(status)
    results = channel.send([email_message(n) for n in range(3)])
    errors = {r.error for r in results}
    assert len(errors) == 1
    (error,) = errors
    assert error is not None and (error.kind, error.code) == (kind, str(status))
    assert all(r.provider_message_id is None for r in results)


def test_a_400_keeps_sendgrids_field_and_message(
    channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    body = {
        "errors": [
            {
                "field": "from.email",
                "message": "does not match a verified Sender Identity",
                "help": None,
            }
        ]
    }
    sendgrid_fake.fail_next(400, body=body)
    (result,) = channel.send([email_message(0)])
    assert result.error is not None
    assert result.error.text == "from.email: does not match a verified Sender Identity"


def test_a_body_sendgrid_refuses_comes_back_permanent_with_the_field(
    sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    channel = make_channel(sendgrid_fake, from_email="not-an-address")
    (result,) = channel.send([email_message(0)])
    assert result.error is not None and result.error.kind is ErrorKind.PERMANENT
    assert result.error.code == "400" and result.error.text.startswith("from.email:")
    channel.close()


def test_a_wrong_api_key_is_misconfigured(sendgrid_fake: SendGridFake, email_message: Make) -> None:
    channel = make_channel(sendgrid_fake, api_key="SG.revoked")
    (result,) = channel.send([email_message(0)])
    assert result.error is not None and result.error.kind is ErrorKind.MISCONFIGURED
    channel.close()


def test_429_waits_until_the_rate_limit_reset(
    channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    sendgrid_fake.fail_next(429, headers={"X-RateLimit-Reset": str(int(NOW) + 42)})
    (result,) = channel.send([email_message(0)])
    assert result.error is not None
    assert (result.error.kind, result.error.code, result.error.retry_after) == (
        ErrorKind.TRANSIENT,
        "429",
        42.0,
    )


def test_a_reset_already_past_means_retry_now() -> None:
    error = classify_sendgrid_error(429, b"", {"X-RateLimit-Reset": str(int(NOW) - 5)}, now=NOW)
    assert error.retry_after == 0.0
    assert classify_sendgrid_error(429, b"", {}, now=NOW).retry_after is None


def test_after_a_401_or_429_the_rest_of_the_batch_is_not_attempted(
    channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    for status in (401, 429):
        sendgrid_fake.fail_next(status)
        received = sendgrid_fake.received
        results = channel.send([email_message(n) for n in range(2500)])
        assert sendgrid_fake.received == received + 1
        assert {r.error.code for r in results if r.error} == {str(status)} and not any(
            r.ok for r in results
        )


def test_after_a_500_the_other_requests_are_still_sent(
    channel: SendGridChannel, sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    sendgrid_fake.fail_next(500)
    results = channel.send([email_message(n) for n in range(2500)])
    assert [r.ok for r in results] == [False] * 1000 + [True] * 1500


def test_no_answer_in_time_is_a_transient_timeout(
    sendgrid_fake: SendGridFake, email_message: Make
) -> None:
    channel = make_channel(sendgrid_fake, timeout=0.3)
    sendgrid_fake.stall(30)  # released by the fixture's stop()
    results = channel.send([email_message(n) for n in range(2)])
    assert {(r.error.kind, r.error.code) for r in results if r.error} == {
        (ErrorKind.TRANSIENT, "timeout")
    }
    assert not any(r.ok for r in results)
    channel.close()


def test_an_unreachable_server_is_a_transient_connection_error(email_message: Make) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = SendGridConfig(
        api_key="SG.x", base_url=f"http://127.0.0.1:{port}", from_email="s@pulse.example"
    )
    (result,) = SendGridChannel(config).send([email_message(0)])
    assert result.error is not None
    assert (result.error.kind, result.error.code) == (ErrorKind.TRANSIENT, "connection_error")


def test_classify_maps_not_found_to_misconfigured_and_keeps_plain_text() -> None:
    error = classify_sendgrid_error(404, b"nothing here", {}, now=NOW)
    assert error.kind is ErrorKind.MISCONFIGURED and error.text.startswith("nothing here")
    assert classify_sendgrid_error(422, b"{}", {}, now=NOW).kind is ErrorKind.PERMANENT
