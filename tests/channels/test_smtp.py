"""The SMTP adapter against a real SMTP server (aiosmtpd) on a free local port."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from channels.base import ErrorKind, OutgoingMessage, SendResult
from channels.smtp import SMTPChannel, SMTPConfig
from tests.fakes.smtp_server import SMTPTestServer, TlsFiles

Make = Callable[..., OutgoingMessage]
Start = Callable[..., SMTPTestServer]


@pytest.fixture
def connect() -> Iterator[Callable[..., SMTPChannel]]:
    """``connect(server, **config)``: an adapter for that server, closed after the test."""
    opened: list[SMTPChannel] = []

    def make(server: SMTPTestServer, **changes: Any) -> SMTPChannel:
        settings: dict[str, Any] = {
            "host": server.host,
            "port": server.port,
            "from_email": "surveys@pulse.example",
            "from_name": "Pulse Surveys",
            "security": "none",
            "timeout": 5.0,
        }
        settings.update(changes)
        channel = SMTPChannel(SMTPConfig(**settings))
        opened.append(channel)
        return channel

    yield make
    for channel in opened:
        channel.close()


def errors(results: list[SendResult]) -> list[tuple[ErrorKind, str] | None]:
    return [(r.error.kind, r.error.code) if r.error else None for r in results]


def test_a_batch_travels_over_one_connection_kept_for_the_next(
    smtp_server: SMTPTestServer, connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    channel = connect(smtp_server)
    first = channel.send([email_message(n) for n in range(5)])
    second = channel.send([email_message(n) for n in range(5, 8)])
    assert all(r.ok for r in first + second)
    assert smtp_server.connections == 1
    assert [m.connection_id for m in smtp_server.received] == [1] * 8
    assert first[0].provider_message_id == "<pulse.msg-0@pulse.example>"
    channel.close()
    assert channel.send([email_message(9)])[0].ok
    assert smtp_server.connections == 2


def test_the_message_carries_headers_and_both_parts(
    smtp_server: SMTPTestServer, connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    connect(smtp_server).send([email_message(3)])
    (mail,) = smtp_server.received
    assert (mail.mail_from, mail.rcpt_tos) == (
        "surveys@pulse.example",
        ["contact3@customer.example"],
    )
    message = mail.message
    assert message["From"] == "Pulse Surveys <surveys@pulse.example>"
    assert message["To"] == "Contact 3 <contact3@customer.example>"
    assert message["Subject"] == "How likely are you to recommend us, Name3?"
    assert message["Message-ID"] == "<pulse.msg-3@pulse.example>"
    assert message["Date"] is not None
    assert message["List-Unsubscribe"] == "<https://p.example/u/tok3>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "https://p.example/r/tok3" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_550_recipient_is_permanent_and_the_batch_goes_on(
    smtp_server: SMTPTestServer, connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    smtp_server.handler.reject_rcpt["contact1@customer.example"] = "550 5.1.1 User unknown"
    results = connect(smtp_server).send([email_message(n) for n in range(3)])
    assert errors(results) == [None, (ErrorKind.PERMANENT, "550"), None]
    assert results[1].error is not None and "User unknown" in results[1].error.text
    assert smtp_server.connections == 1 and len(smtp_server.received) == 2


def test_a_451_is_transient(
    smtp_server: SMTPTestServer, connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    smtp_server.handler.data_reply["contact0@customer.example"] = "451 4.3.0 Try again later"
    results = connect(smtp_server).send([email_message(0), email_message(1)])
    assert errors(results) == [(ErrorKind.TRANSIENT, "451"), None]


def test_a_dropped_connection_leaves_the_rest_of_the_batch_transient(
    smtp_server: SMTPTestServer, connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    smtp_server.handler.drop_at_message = 2
    channel = connect(smtp_server)
    results = channel.send([email_message(n) for n in range(4)])
    lost = (ErrorKind.TRANSIENT, "connection_lost")
    assert errors(results) == [None, lost, lost, lost]
    assert channel.send([email_message(5)])[0].ok  # the next batch connects again
    assert smtp_server.connections == 2


def test_login_over_starttls_trusting_a_test_ca(
    smtp_server_factory: Start, tls_certificates: TlsFiles, connect: Callable[..., SMTPChannel],
    email_message: Make,
) -> None:  # fmt: skip
    server = smtp_server_factory(starttls=True, credentials=("pulse", "s3cret"))
    channel = connect(
        server, security="starttls", ca_file=str(tls_certificates.ca_file),
        username="pulse", password="s3cret", host="localhost",
    )  # fmt: skip
    assert all(r.ok for r in channel.send([email_message(0), email_message(1)]))
    assert [(m.tls, m.login) for m in server.received] == [(True, "pulse")] * 2
    assert server.connections == 1


def test_a_wrong_password_is_misconfigured_for_every_message(
    smtp_server_factory: Start, tls_certificates: TlsFiles, connect: Callable[..., SMTPChannel],
    email_message: Make,
) -> None:  # fmt: skip
    server = smtp_server_factory(starttls=True, credentials=("pulse", "s3cret"))
    channel = connect(
        server, security="starttls", ca_file=str(tls_certificates.ca_file),
        username="pulse", password="wrong",
    )  # fmt: skip
    results = channel.send([email_message(0), email_message(1)])
    assert errors(results) == [(ErrorKind.MISCONFIGURED, "535")] * 2
    assert server.received == []


def test_no_login_where_one_is_required_is_misconfigured(
    smtp_server_factory: Start, tls_certificates: TlsFiles, connect: Callable[..., SMTPChannel],
    email_message: Make,
) -> None:  # fmt: skip
    server = smtp_server_factory(starttls=True, credentials=("pulse", "s3cret"))
    channel = connect(server, security="starttls", ca_file=str(tls_certificates.ca_file))
    (result,) = channel.send([email_message(0)])
    assert errors([result]) == [(ErrorKind.MISCONFIGURED, "530")]


def test_an_untrusted_certificate_is_misconfigured(
    smtp_server_factory: Start, connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    server = smtp_server_factory(starttls=True)
    (result,) = connect(server, security="starttls").send([email_message(0)])
    assert errors([result]) == [(ErrorKind.MISCONFIGURED, "tls")]


def test_starttls_required_but_not_offered_is_misconfigured(
    smtp_server: SMTPTestServer, connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    (result,) = connect(smtp_server, security="starttls").send([email_message(0)])
    assert errors([result]) == [(ErrorKind.MISCONFIGURED, "unsupported")]
    assert smtp_server.received == []


def test_implicit_tls(
    smtp_server_factory: Start, tls_certificates: TlsFiles, connect: Callable[..., SMTPChannel],
    email_message: Make,
) -> None:  # fmt: skip
    server = smtp_server_factory(implicit_tls=True)
    channel = connect(server, security="tls", ca_file=str(tls_certificates.ca_file))
    assert channel.send([email_message(0)])[0].ok
    assert server.received[0].tls


def test_an_unreachable_server_is_transient_for_every_message(
    connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = SMTPChannel(
        SMTPConfig(host="127.0.0.1", port=port, from_email="s@pulse.example", security="none")
    )
    results = channel.send([email_message(0), email_message(1)])
    assert errors(results) == [(ErrorKind.TRANSIENT, "connection_error")] * 2


def test_a_message_that_cannot_be_built_is_permanent_and_the_rest_is_sent(
    smtp_server: SMTPTestServer, connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    broken = email_message(0, headers={"X-Trace": "a\r\nBcc: victim@example.com"})
    results = connect(smtp_server).send([broken, email_message(1)])
    assert errors(results) == [(ErrorKind.PERMANENT, "invalid_message"), None]
    assert [m.rcpt_tos for m in smtp_server.received] == [["contact1@customer.example"]]


def test_build_requests_gives_the_mime_messages(email_message: Make) -> None:
    channel = SMTPChannel(SMTPConfig(host="unused.invalid", from_email="s@pulse.example"))
    built = channel.build_requests([email_message(0), email_message(1, subject=None)])
    assert [m["Message-ID"] for m in built] == ["<pulse.msg-0@pulse.example>"]


def test_a_long_message_goes_out_in_crlf_lines_a_strict_server_accepts(
    smtp_server: SMTPTestServer, connect: Callable[..., SMTPChannel], email_message: Make
) -> None:
    """aiosmtpd refuses a message with a line over 1,000 bytes ("500 Line too long"), as
    strict servers do; bare LF makes the whole message one line."""
    long = email_message(4)
    long = OutgoingMessage(**{**long.__dict__, "text": long.text + "\n" + "A long paragraph. " * 400, "subject": "S" * 1200})
    (result,) = connect(smtp_server).send([long])
    assert result.ok, result.error
    (mail,) = smtp_server.received
    lines = mail.raw.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    assert b"\n" not in b"".join(lines)  # every line break was CRLF
    assert mail.message["Subject"] == "S" * 1200
