"""The MIME message and unsubscribe headers shared by the SMTP and outbox adapters."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser

import pytest

from channels.base import OutgoingMessage
from channels.email_headers import (
    build_mime_message,
    list_unsubscribe_headers,
    message_id_header,
    mime_bytes,
)

Make = Callable[..., OutgoingMessage]


def test_one_click_unsubscribe_puts_https_first_then_mailto() -> None:
    headers = list_unsubscribe_headers(
        "https://p.example/u/tok", mailto="unsubscribe@pulse.example"
    )
    assert list(headers.items()) == [
        ("List-Unsubscribe", "<https://p.example/u/tok>, <mailto:unsubscribe@pulse.example>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]
    same = list_unsubscribe_headers(
        "https://p.example/u/tok", mailto="mailto:unsubscribe@pulse.example"
    )
    assert same == headers


@pytest.mark.parametrize(
    "url",
    [
        "http://p.example/u/tok",
        "mailto:x@pulse.example",
        "https://p.example/u/a b",
        "https://p.example/u/a>",
    ],
)
def test_one_click_needs_a_clean_https_url(url: str) -> None:
    with pytest.raises(ValueError):
        list_unsubscribe_headers(url)


def test_the_mime_message_fills_placeholders_everywhere(email_message: Make) -> None:
    headers = {"List-Unsubscribe": "<https://p.example/u/-pulse_token->"}
    mime = build_mime_message(
        email_message(2, headers=headers),
        from_email="surveys@pulse.example",
        from_name="Pulse Surveys",
    )
    assert mime["Subject"] == "How likely are you to recommend us, Name2?"
    assert mime["List-Unsubscribe"] == "<https://p.example/u/tok2>"
    assert "Name2" in mime.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert mime["X-Pulse-Message-Id"] == "msg-2"


def test_non_ascii_names_and_subject_survive_the_round_trip(email_message: Make) -> None:
    message = email_message(0, to_name="Zoë Ünal", subject="¿Qué tal, -pulse_first_name-?")
    date = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    mime = build_mime_message(
        message, from_email="surveys@pulse.example", from_name="Pülse", date=date
    )
    parsed = BytesParser(policy=policy.default).parsebytes(mime.as_bytes(policy=policy.SMTP))
    assert parsed["To"] == "Zoë Ünal <contact0@customer.example>"
    assert parsed["From"] == "Pülse <surveys@pulse.example>"
    assert parsed["Subject"] == "¿Qué tal, Name0?"
    assert parsed["Date"] == "Mon, 23 Nov 2026 10:15:00 +0000"


def test_a_text_only_message_is_a_single_part(email_message: Make) -> None:
    mime = build_mime_message(email_message(0, html=None), from_email="s@pulse.example")
    assert mime.get_content_type() == "text/plain"


@pytest.mark.parametrize(
    "changes",
    [
        {"headers": {"Subject": "another"}},  # reserved: written from the message
        {"headers": {"X-Trace": "a\nBcc: victim@example.com"}},  # header injection
        {"subject": None},
        {"to": "nobody"},
    ],
)
def test_a_message_that_cannot_be_sent_as_given_raises(
    email_message: Make, changes: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        build_mime_message(email_message(0, **changes), from_email="s@pulse.example")


def test_message_id_is_stable_and_safe() -> None:
    assert message_id_header("msg-1", "pulse.example") == message_id_header(
        "msg-1", "pulse.example"
    )
    assert message_id_header("a b<c>@d", "pulse.example") == "<pulse.a_b_c__d@pulse.example>"


LINK = "https://p.example/r/" + "Ab-_~" * 18  # long enough to split across soft line breaks


@pytest.mark.parametrize(
    "name",
    ["Ann", "Ann\nLee", "Ann\r\nLee", "Ann\rLee", "Ann\u2028Lee", "Zoë " * 30, "trailing  ", "", LINK, LINK + ".", "a=b" * 10],
)
@pytest.mark.parametrize("link", [LINK, LINK[:40], "https://p.example/r/x.", "https://p.example/r/=3D" * 3])
def test_each_body_is_the_quoted_printable_of_the_whole_filled_text(name: str, link: str) -> None:
    # Lines are encoded apart, those naming only links once per content with the links
    # copied in per message; the bytes must be those of encoding the whole text.
    long_line = "x = 1; " * 20
    text = f"Hi -pulse_name-,\n{long_line}-pulse_name- {long_line}\n-pulse_url-\n\nsame  \n{long_line}\u2028-pulse_name-"
    html = (f"<p>-pulse_name_html-</p>\n<p>{long_line}</p>\n<a href=\"-pulse_url-?s=1\">{long_line}</a>-pulse_url--pulse_url-\n"
            f"<a href=\"x\">-pulse_name_html-</a>{long_line}\n.-pulse_url-")
    message = OutgoingMessage(
        message_id="m1", channel="email", to="a@customer.example", subject="Hello", text=text, html=html,
        substitutions={"-pulse_name-": name, "-pulse_name_html-": name.replace("<", "&lt;"), "-pulse_url-": link},
    )
    raw = mime_bytes(message, from_email="s@pulse.example")
    filled = message.materialize()
    for part in (filled.text, filled.html):
        assert part is not None
        whole = binascii.b2a_qp(part.replace("\r\n", "\n").encode("utf-8"), istext=True)
        assert whole.replace(b"\n", b"\r\n") in raw
