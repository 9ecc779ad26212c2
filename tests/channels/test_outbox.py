"""The development outbox: messages as files, listed and read back for the API's page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from channels.base import ErrorKind, OutgoingMessage
from channels.outbox import OutboxChannel, OutboxConfig, list_outbox, read_outbox_entry

Make = Callable[..., OutgoingMessage]
START = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)


def ticking_clock() -> Callable[[], datetime]:
    """Each call is one second after the previous one."""
    ticks: Iterator[int] = iter(range(10_000))
    return lambda: START + timedelta(seconds=next(ticks))


def sms(n: int, text: str = "How likely are you to recommend us? Reply 0-10") -> OutgoingMessage:
    return OutgoingMessage(message_id=f"sms-{n}", channel="sms", to=f"+1555000{n:04d}", text=text)


@pytest.fixture
def email_outbox(tmp_path: Path) -> OutboxChannel:
    config = OutboxConfig(
        directory=tmp_path / "outbox", from_email="surveys@pulse.example", from_name="Pulse"
    )
    return OutboxChannel(config, clock=ticking_clock())


@pytest.fixture
def sms_outbox(tmp_path: Path) -> OutboxChannel:
    config = OutboxConfig(directory=tmp_path / "outbox", medium="sms", from_number="+15559990000")
    return OutboxChannel(config, clock=ticking_clock())


def test_one_class_serves_both_media_under_its_own_name() -> None:
    email = OutboxChannel(OutboxConfig(directory="outbox"))
    text = OutboxChannel(OutboxConfig(directory="outbox", medium="sms"))
    assert [(c.name, c.medium) for c in (email, text)] == [
        ("outbox_email", "email"),
        ("outbox_sms", "sms"),
    ]


def test_an_email_becomes_an_eml_file_named_by_time_id_and_recipient(
    email_outbox: OutboxChannel, email_message: Make
) -> None:
    (result,) = email_outbox.send([email_message(0)])
    assert (
        result.provider_message_id == "20261123T101500.000000Z-msg-0-contact0_customer.example.eml"
    )
    (path,) = email_outbox.directory.iterdir()  # nothing else: the temporary file was renamed
    assert path.name == result.provider_message_id
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message["Subject"] == "How likely are you to recommend us, Name0?"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_an_sms_becomes_a_txt_file_with_its_segment_count(sms_outbox: OutboxChannel) -> None:
    long_unicode = "Merci 🙏 " * 20  # an emoji makes the whole text UCS-2: 67 units a part
    short, long = sms_outbox.send([sms(1), sms(2, long_unicode)])
    assert (short.segments, short.encoding) == (1, "GSM-7")
    assert (long.segments, long.encoding) == (3, "UCS-2")
    content = (sms_outbox.directory / str(long.provider_message_id)).read_text(encoding="utf-8")
    assert content.splitlines()[:2] == ["To: +15550000002", "From: +15559990000"]
    assert "Segments: 3" in content and content.endswith(long_unicode)


def test_a_message_of_the_other_medium_is_refused(email_outbox: OutboxChannel) -> None:
    (result,) = email_outbox.send([sms(1)])
    assert result.error is not None
    assert (result.error.kind, result.error.code) == (ErrorKind.PERMANENT, "invalid_message")


def test_an_unusable_directory_is_misconfigured(tmp_path: Path, email_message: Make) -> None:
    occupied = tmp_path / "outbox"
    occupied.write_text("a file, not a folder")
    (result,) = OutboxChannel(OutboxConfig(directory=occupied)).send([email_message(0)])
    assert result.error is not None and result.error.kind is ErrorKind.MISCONFIGURED


def test_in_the_background_files_are_named_at_once_and_written_by_flush(tmp_path: Path, email_message: Make) -> None:
    outbox = OutboxChannel(OutboxConfig(directory=tmp_path / "outbox"), clock=ticking_clock(), background=True)
    results = outbox.send([email_message(n) for n in range(20)])
    outbox.flush()
    names = sorted(p.name for p in outbox.directory.iterdir())
    assert names == sorted(str(r.provider_message_id) for r in results)  # every file, whole (no .part left)
    message = BytesParser(policy=policy.default).parsebytes((outbox.directory / names[0]).read_bytes())
    assert message["Subject"] == "How likely are you to recommend us, Name0?"
    outbox.close()


def test_in_the_background_an_unusable_directory_fails_the_call_at_once(tmp_path: Path, email_message: Make) -> None:
    occupied = tmp_path / "outbox"
    occupied.write_text("a file, not a folder")
    results = OutboxChannel(OutboxConfig(directory=occupied), background=True).send([email_message(0), email_message(1)])
    assert [r.error.kind if r.error else None for r in results] == [ErrorKind.MISCONFIGURED] * 2


def test_list_outbox_is_newest_first_with_who_and_what(
    email_outbox: OutboxChannel, sms_outbox: OutboxChannel, email_message: Make
) -> None:
    email_outbox.send([email_message(0), email_message(1)])  # 10:15:00, 10:15:01
    sms_outbox.send([sms(1)])  # its own clock: 10:15:00
    (email_outbox.directory / ".partial.part").write_bytes(b"half")  # never listed
    entries = list_outbox(email_outbox.directory)
    assert [(e.medium, e.to, e.created) for e in entries] == [
        ("email", "Contact 1 <contact1@customer.example>", START + timedelta(seconds=1)),
        ("sms", "+15550000001", START),
        ("email", "Contact 0 <contact0@customer.example>", START),
    ]
    assert entries[0].subject == "How likely are you to recommend us, Name1?"
    assert entries[1].subject is None
    assert [e.name for e in list_outbox(email_outbox.directory, limit=1)] == [entries[0].name]


def test_list_outbox_of_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert list_outbox(tmp_path / "nothing-sent-yet") == []


def test_read_outbox_entry_gives_headers_and_both_parts(
    email_outbox: OutboxChannel, email_message: Make
) -> None:
    (result,) = email_outbox.send([email_message(4)])
    document = read_outbox_entry(email_outbox.directory, str(result.provider_message_id))
    assert document.entry.to == "Contact 4 <contact4@customer.example>"
    assert ("Message-ID", "<pulse.msg-4@pulse.example>") in document.headers
    assert document.text is not None and "https://p.example/r/tok4" in document.text
    assert document.html is not None and "<a href='https://p.example/r/tok4'>" in document.html


def test_read_outbox_entry_reads_an_sms(sms_outbox: OutboxChannel) -> None:
    (result,) = sms_outbox.send([sms(7)])
    document = read_outbox_entry(sms_outbox.directory, str(result.provider_message_id))
    assert (document.text, document.html) == (sms(7).text, None)
    assert ("Encoding", "GSM-7") in document.headers


@pytest.mark.parametrize(
    "name",
    [
        "../secret.eml",
        "/etc/passwd",
        "20261123T101500.000000Z-x/../../../etc/passwd.txt",
        ".partial.part",
        "20261123T101500.000000Z-x-y.sh",
    ],
)
def test_read_outbox_entry_refuses_anything_but_an_outbox_file_name(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / "secret.eml").write_text("Subject: not yours")
    with pytest.raises(ValueError):
        read_outbox_entry(tmp_path / "outbox", name)


def test_read_outbox_entry_of_an_unknown_message_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_outbox_entry(tmp_path, "20261123T101500.000000Z-msg-9-nobody.eml")
