"""What the SendGrid adapter puts in Mail Send requests (pure: no HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from channels.base import ErrorKind, OutgoingMessage
from channels.sendgrid import (
    MAX_REQUEST_BYTES,
    MailSendRequest,
    SendGridChannel,
    SendGridConfig,
)
from tests.fakes.sendgrid_fake import mail_send_errors

Make = Callable[..., OutgoingMessage]


@pytest.fixture
def channel() -> SendGridChannel:
    # Port 9 (discard) is never listened on here: a test that made a request would fail.
    config = SendGridConfig(
        api_key="SG.unused", base_url="http://127.0.0.1:9", from_email="surveys@pulse.example",
        from_name="Pulse Surveys", timeout=1.0,
    )  # fmt: skip
    return SendGridChannel(config)


def sizes(requests: list[MailSendRequest]) -> list[int]:
    return [len(r.body["personalizations"]) for r in requests]


def test_the_adapter_declares_sendgrids_batch_size(channel: SendGridChannel) -> None:
    assert (channel.name, channel.medium, channel.max_batch) == ("sendgrid", "email", 1000)


def test_2500_identical_invites_travel_in_three_requests(
    channel: SendGridChannel, email_message: Make
) -> None:
    messages = [email_message(n) for n in range(2500)]
    requests = channel.build_requests(messages)
    assert sizes(requests) == [1000, 1000, 500]
    assert [m for r in requests for m in r.message_ids] == [m.message_id for m in messages]


def test_different_content_travels_in_separate_requests(
    channel: SendGridChannel, email_message: Make
) -> None:
    messages = [
        email_message(0),
        email_message(1),
        email_message(2, subject="A reminder, -pulse_first_name-"),
        email_message(3, html="<p>Other</p>"),
        email_message(4, categories=("pulse", "campaign-7", "reminder")),
        email_message(5, text="Plain only", html=None),
    ]
    requests = channel.build_requests(messages)
    assert [r.message_ids for r in requests] == [
        ("msg-0", "msg-1"), ("msg-2",), ("msg-3",), ("msg-4",), ("msg-5",),
    ]  # fmt: skip


def test_the_whole_body_of_a_one_recipient_request(
    channel: SendGridChannel, email_message: Make
) -> None:
    (request,) = channel.build_requests([email_message(1)])
    assert request.body == {
        "from": {"name": "Pulse Surveys", "email": "surveys@pulse.example"},
        "subject": "How likely are you to recommend us, -pulse_first_name-?",
        "personalizations": [
            {
                "to": [{"name": "Contact 1", "email": "contact1@customer.example"}],
                "substitutions": {"-pulse_first_name-": "Name1", "-pulse_token-": "tok1"},
                "custom_args": {"pulse_campaign_id": "7", "pulse_message_id": "msg-1"},
            }
        ],
        "content": [
            {"type": "text/plain", "value": email_message(1).text},
            {"type": "text/html", "value": email_message(1).html},
        ],
        "headers": {
            "List-Unsubscribe": "<https://p.example/u/tok1>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "categories": ["pulse", "campaign-7", "invite"],
    }
    assert request.size == len(json.dumps(request.body).encode())
    assert list(request.body["headers"]) == ["List-Unsubscribe", "List-Unsubscribe-Post"]


def test_each_recipient_has_its_own_substitutions_custom_args_and_unsubscribe_header(
    channel: SendGridChannel, email_message: Make
) -> None:
    (request,) = channel.build_requests([email_message(n) for n in range(3)])
    for n, personalization in enumerate(request.body["personalizations"]):
        assert personalization["to"] == [
            {"name": f"Contact {n}", "email": f"contact{n}@customer.example"}
        ]
        assert personalization["substitutions"] == {
            "-pulse_first_name-": f"Name{n}",
            "-pulse_token-": f"tok{n}",
        }
        assert personalization["custom_args"] == {
            "pulse_campaign_id": "7",
            "pulse_message_id": f"msg-{n}",
        }
        assert personalization["headers"] == {"List-Unsubscribe": f"<https://p.example/u/tok{n}>"}
    # The header every recipient shares is sent once, for the whole request.
    assert request.body["headers"] == {"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def test_https_unsubscribe_comes_before_mailto(
    channel: SendGridChannel, email_message: Make
) -> None:
    from channels.email_headers import list_unsubscribe_headers

    headers = list_unsubscribe_headers(
        "https://p.example/u/tok0", mailto="unsubscribe@pulse.example"
    )
    (request,) = channel.build_requests([email_message(0, headers=headers)])
    assert request.body["headers"]["List-Unsubscribe"] == (
        "<https://p.example/u/tok0>, <mailto:unsubscribe@pulse.example>"
    )
    assert request.body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_placeholders_in_headers_are_filled_per_recipient(
    channel: SendGridChannel, email_message: Make
) -> None:
    # SendGrid substitutes in the subject and body only; headers are filled here.
    headers = {"List-Unsubscribe": "<https://p.example/u/-pulse_token->"}
    (request,) = channel.build_requests([email_message(n, headers=headers) for n in range(2)])
    assert [p["headers"] for p in request.body["personalizations"]] == [
        {"List-Unsubscribe": "<https://p.example/u/tok0>"},
        {"List-Unsubscribe": "<https://p.example/u/tok1>"},
    ]


def test_text_comes_before_html_and_a_text_only_email_has_one_part(
    channel: SendGridChannel, email_message: Make
) -> None:
    both, text_only = channel.build_requests([email_message(0), email_message(1, html=None)])
    assert [c["type"] for c in both.body["content"]] == ["text/plain", "text/html"]
    assert [c["type"] for c in text_only.body["content"]] == ["text/plain"]


def test_categories_are_distinct_cut_to_255_characters_and_at_most_10(
    channel: SendGridChannel, email_message: Make
) -> None:
    categories = ("pulse", "pulse", "x" * 300, *(f"c{i}" for i in range(12)))
    (request,) = channel.build_requests([email_message(0, categories=categories)])
    assert request.body["categories"] == ["pulse", "x" * 255, *(f"c{i}" for i in range(8))]


def test_one_address_twice_goes_in_two_requests(
    channel: SendGridChannel, email_message: Make
) -> None:
    # SendGrid refuses a whole request that names an address twice.
    messages = [
        email_message(0),
        email_message(1),
        email_message(2, to="CONTACT0@customer.example"),
    ]
    requests = channel.build_requests(messages)
    assert [r.message_ids for r in requests] == [("msg-0", "msg-1"), ("msg-2",)]


def test_requests_stay_under_30_mb(channel: SendGridChannel, email_message: Make) -> None:
    # 1,000 recipients with 40 kB of per-recipient header each: about 40 MB in one request.
    messages = [
        email_message(n, headers={"X-Pulse-Trace": f"{n}-" + "t" * 40_000}) for n in range(1000)
    ]
    requests = channel.build_requests(messages)
    assert len(requests) == 2 and sum(sizes(requests)) == 1000
    assert all(r.size <= MAX_REQUEST_BYTES for r in requests)


def test_every_request_is_one_sendgrid_would_accept(
    channel: SendGridChannel, email_message: Make
) -> None:
    messages = [email_message(n) for n in range(1200)] + [email_message(5000, html=None)]
    for request in channel.build_requests(messages):
        assert mail_send_errors(request.body) == []


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"substitutions": {"-pulse_first_name-": "x" * 10_001}}, "substitutions_too_large"),
        ({"custom_args": {"trace": "y" * 10_001}}, "custom_args_too_large"),
        ({"subject": None}, "missing_subject"),
        ({"text": "", "html": None}, "empty_content"),
        ({"headers": {"From": "someone@else.example"}}, "reserved_header"),
        ({"to": "not-an-address"}, "invalid_recipient"),
    ],
)
def test_a_message_sendgrid_would_refuse_is_refused_without_a_request(
    channel: SendGridChannel, email_message: Make, changes: dict[str, object], code: str
) -> None:
    messages = [email_message(0, **changes)]
    assert channel.build_requests(messages) == []
    (result,) = channel.send(
        messages
    )  # no request is made: port 9 would fail with connection_error
    assert result.error is not None
    assert (result.error.kind, result.error.code) == (ErrorKind.PERMANENT, code)


def test_reply_to_travels_and_splits_requests(channel: SendGridChannel) -> None:
    messages = [
        OutgoingMessage(message_id="1", to="a@example.com", channel="email", subject="Thanks", text="Reply to this email.",
                        reply_to="owner1@acme.example"),
        OutgoingMessage(message_id="2", to="b@example.com", channel="email", subject="Thanks", text="Reply to this email.",
                        reply_to="owner2@acme.example"),
    ]
    requests = channel.build_requests(messages)
    assert [r.body["reply_to"] for r in requests] == [{"email": "owner1@acme.example"}, {"email": "owner2@acme.example"}]
    assert all(not mail_send_errors(r.body) for r in requests)
