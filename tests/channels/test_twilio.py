"""The Twilio SMS adapter, through the official SDK, against the local Twilio fake."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from channels.base import ErrorKind, OutgoingMessage
from channels.ratelimit import InMemoryTokenBucket, RateLimit, RedisTokenBucket
from channels.twilio_sms import TwilioConfig, TwilioMessageRequest, TwilioSmsChannel
from tests.fakes.twilio_fake import TwilioFake

MessageFactory = Callable[..., OutgoingMessage]
SERVICE_SID = "MG" + "0123456789abcdef" * 2


def loose_limiter() -> InMemoryTokenBucket:
    return InMemoryTokenBucket(default=RateLimit(per_second=10_000, burst=10_000))


def test_sends_from_the_configured_number_with_a_status_callback_carrying_our_id(
    sms_channel: TwilioSmsChannel, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    [result] = sms_channel.send([sms_message(message_id="msg_123")])

    assert result.ok, result.error
    [accepted] = twilio_fake.accepted
    assert result.provider_message_id == accepted.sid
    assert accepted.form["From"] == "+15005550006"
    assert "MessagingServiceSid" not in accepted.form
    assert accepted.form["To"] == "+14155550100"
    callback = urlsplit(accepted.form["StatusCallback"])
    assert (
        callback._replace(query="").geturl()
        == "https://pulse.example.com/v1/webhooks/twilio/status"
    )
    assert parse_qs(callback.query) == {"pulse_message_id": ["msg_123"]}


def test_sends_through_a_messaging_service_without_a_from_number(
    twilio_config: TwilioConfig, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    config = dataclasses.replace(twilio_config, from_number=None, messaging_service_sid=SERVICE_SID)
    channel = TwilioSmsChannel(config, rate_limiter=loose_limiter())

    [result] = channel.send([sms_message()])

    assert result.ok, result.error
    [accepted] = twilio_fake.accepted
    assert accepted.form["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in accepted.form
    assert accepted.sender == SERVICE_SID
    channel.close()


def test_config_needs_exactly_one_sender(twilio_config: TwilioConfig) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        dataclasses.replace(twilio_config, messaging_service_sid=SERVICE_SID)
    with pytest.raises(ValueError, match="exactly one"):
        dataclasses.replace(twilio_config, from_number=None)


def test_status_callback_keeps_a_query_the_configured_url_already_has(
    twilio_config: TwilioConfig, sms_message: MessageFactory
) -> None:
    config = dataclasses.replace(
        twilio_config, status_callback_url="https://p.example.com/cb?org=7"
    )
    channel = TwilioSmsChannel(config, rate_limiter=loose_limiter())
    [request] = channel.build_requests([sms_message(message_id="m 1")])
    assert request.status_callback == "https://p.example.com/cb?org=7&pulse_message_id=m+1"


def test_build_requests_fills_placeholders_and_normalises_for_gsm_without_http(
    sms_channel: TwilioSmsChannel, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    message = sms_message(
        text="Hi -first-, how’s it going… reply 0–10", substitutions={"-first-": "Ana"}
    )
    [request] = sms_channel.build_requests([message])
    assert isinstance(request, TwilioMessageRequest)
    assert request.body == "Hi Ana, how's it going... reply 0-10"
    assert (request.encoding, request.segments) == ("GSM-7", 1)
    assert twilio_fake.accepted == []


def test_records_segments_and_encoding_of_what_was_sent(
    sms_channel: TwilioSmsChannel, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    long_gsm = sms_message(text="a" * 161)
    emoji = sms_message(text="Thanks for your answer 🙏")
    smart_quote = sms_message(text="“" + "a" * 150 + "”")  # 152 chars: 1 GSM segment, 3 as UCS-2

    results = sms_channel.send([long_gsm, emoji, smart_quote])

    assert [(r.encoding, r.segments) for r in results] == [("GSM-7", 2), ("UCS-2", 1), ("GSM-7", 1)]
    assert [m.num_segments for m in twilio_fake.accepted] == [2, 1, 1]
    assert twilio_fake.accepted[2].body == '"' + "a" * 150 + '"'


def test_one_result_per_message_in_order_even_when_some_fail(
    sms_channel: TwilioSmsChannel, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    twilio_fake.fail_number("+14155550199", 21610)
    messages = [
        sms_message(to="+14155550101"),
        sms_message(to="+14155550199"),
        sms_message(to="+14155550102"),
    ]

    results = sms_channel.send(messages)

    assert [r.message_id for r in results] == [m.message_id for m in messages]
    assert [r.ok for r in results] == [True, False, True]
    assert len(twilio_fake.accepted) == 2  # each message sent once: no retries in the adapter


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (21610, ErrorKind.OPTED_OUT),
        (21211, ErrorKind.PERMANENT),
        (21614, ErrorKind.PERMANENT),
        (20429, ErrorKind.TRANSIENT),
        (500, ErrorKind.TRANSIENT),
        (503, ErrorKind.TRANSIENT),
    ],
)
def test_twilio_errors_map_to_what_the_dispatcher_should_do(
    sms_channel: TwilioSmsChannel,
    twilio_fake: TwilioFake,
    sms_message: MessageFactory,
    code: int,
    kind: ErrorKind,
) -> None:
    twilio_fake.fail_next(1, code)

    [result] = sms_channel.send([sms_message()])

    assert result.error is not None
    assert (result.error.kind, result.error.code) == (kind, str(code))
    assert result.provider_message_id is None
    assert result.segments == 1  # what it would have cost is known without sending


def test_other_client_errors_are_permanent_with_twilios_code_and_message(
    sms_channel: TwilioSmsChannel, sms_message: MessageFactory
) -> None:
    [result] = sms_channel.send([sms_message(to="0415 555 0100")])  # not E.164: Twilio's rule

    assert result.error is not None
    assert result.error.kind is ErrorKind.PERMANENT
    assert result.error.code == "21211"
    assert result.error.text == "Invalid 'To' Phone Number"


def test_an_unknown_4xx_code_is_permanent_and_keeps_the_code(
    sms_channel: TwilioSmsChannel, sms_message: MessageFactory
) -> None:
    [result] = sms_channel.send([sms_message(text="x" * 1601)])

    assert result.error is not None
    assert (result.error.kind, result.error.code) == (ErrorKind.PERMANENT, "21617")
    assert "1600 character limit" in result.error.text


def test_wrong_credentials_are_misconfigured(
    twilio_config: TwilioConfig, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    config = dataclasses.replace(twilio_config, auth_token="not-the-token")
    channel = TwilioSmsChannel(config, rate_limiter=loose_limiter())

    [result] = channel.send([sms_message()])

    assert result.error is not None
    assert (result.error.kind, result.error.code) == (ErrorKind.MISCONFIGURED, "20003")
    assert twilio_fake.accepted == []
    channel.close()


def test_a_stalled_request_times_out_as_transient_with_an_unknown_outcome(
    twilio_config: TwilioConfig, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    config = dataclasses.replace(twilio_config, timeout=0.3)
    channel = TwilioSmsChannel(config, rate_limiter=loose_limiter())
    twilio_fake.stall(seconds=30)

    first, second = channel.send([sms_message(), sms_message()])

    assert first.error is not None
    assert (first.error.kind, first.error.code) == (ErrorKind.TRANSIENT, "read_timeout")
    assert "outcome unknown" in first.error.text
    assert second.ok, second.error  # the adapter carries on with the batch
    channel.close()


def test_an_unreachable_api_is_transient_and_known_not_sent(
    twilio_config: TwilioConfig, sms_message: MessageFactory
) -> None:
    stopped = TwilioFake()
    url = stopped.start()
    stopped.stop()
    config = dataclasses.replace(twilio_config, api_base_url=url)
    channel = TwilioSmsChannel(config, rate_limiter=loose_limiter())

    [result] = channel.send([sms_message()])

    assert result.error is not None
    assert (result.error.kind, result.error.code) == (ErrorKind.TRANSIENT, "connect_error")
    channel.close()


def test_no_token_within_the_wait_is_transient_and_nothing_is_sent(
    twilio_config: TwilioConfig, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    config = dataclasses.replace(twilio_config, rate_limit_wait=0.0)
    limiter = InMemoryTokenBucket({"+15005550006": RateLimit(per_second=0.001)})
    channel = TwilioSmsChannel(config, rate_limiter=limiter)

    first, second = channel.send([sms_message(), sms_message()])

    assert first.ok
    assert second.error is not None
    assert (second.error.kind, second.error.code) == (ErrorKind.TRANSIENT, "rate_limit_wait")
    assert len(twilio_fake.accepted) == 1
    channel.close()


def test_the_adapter_draws_one_token_per_message_for_its_sender(
    sms_channel: TwilioSmsChannel, sms_message: MessageFactory
) -> None:
    asked: list[tuple[str, float]] = []

    class RecordingLimiter:
        def acquire(self, key: str, timeout: float) -> bool:
            asked.append((key, timeout))
            return True

    channel = TwilioSmsChannel(sms_channel.config, rate_limiter=RecordingLimiter())
    channel.send([sms_message(), sms_message(), sms_message()])
    assert asked == [("+15005550006", 30.0)] * 3
    channel.close()


def test_the_adapter_is_usable_after_close(
    sms_channel: TwilioSmsChannel, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    assert sms_channel.send([sms_message()])[0].ok
    sms_channel.close()
    assert sms_channel.send([sms_message()])[0].ok
    assert len(twilio_fake.accepted) == 2


def test_an_unreachable_rate_limiter_is_transient_and_nothing_is_sent(
    twilio_config: TwilioConfig, twilio_fake: TwilioFake, sms_message: MessageFactory
) -> None:
    # Nothing listens on port 1: the shared bucket cannot be asked.
    unreachable = redis.Redis(port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    limiter = RedisTokenBucket(unreachable)
    channel = TwilioSmsChannel(twilio_config, rate_limiter=limiter)

    first, second = channel.send([sms_message(), sms_message()])

    assert first.error is not None and second.error is not None
    assert (first.error.kind, first.error.code) == (ErrorKind.TRANSIENT, "rate_limiter_unavailable")
    assert twilio_fake.accepted == []
    channel.close()
