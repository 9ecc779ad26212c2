"""The outbox's spool: one file per send call, expanded into the files users open, whole and once."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from channels.base import OutgoingMessage
from channels.email_headers import mime_bytes
from channels.outbox import (
    OutboxChannel,
    OutboxConfig,
    expand_outbox,
    list_outbox,
    read_outbox_entry,
)
from channels.outbox_expander import SpoolExpander
from channels.outbox_spool import expand_spool, pending_spools, render_file

Make = Callable[..., OutgoingMessage]
START = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
SENDER = {"from_email": "surveys@pulse.example", "from_name": "Pulse Surveys", "from_number": "+15559990000"}


def clock_from(start: datetime) -> Callable[[], datetime]:
    """Each call 1.5 ms after the previous one (microseconds in the names and the SMS dates)."""
    ticks = iter(range(100_000))
    return lambda: start + timedelta(microseconds=1500 * next(ticks))


def spooling(directory: Path, medium: str = "email", start: datetime = START) -> OutboxChannel:
    """The dispatcher's kind of outbox: files are expanded later, not inside ``send`` (here, without
    its expander process, only when a reader, ``flush`` or ``close`` asks)."""
    config = OutboxConfig(directory=directory, medium=medium, from_email=SENDER["from_email"],  # type: ignore[arg-type]
                          from_name=SENDER["from_name"], from_number=SENDER["from_number"])
    return OutboxChannel(config, clock=clock_from(start), background=True, expander=False)


def message_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def test_one_send_call_writes_one_spool_file_and_the_files_expanded_from_it_are_as_rendered_at_send(
    tmp_path: Path, email_message: Make
) -> None:
    outbox = spooling(tmp_path)
    messages = [email_message(n) for n in range(5)] + [email_message(5, html=None, to_name=None, reply_to="owner@customer.example")]
    results = outbox.send(messages)
    assert len(pending_spools(tmp_path)) == 1 and message_files(tmp_path) == []  # one file for the call, nothing else yet
    expand_outbox(tmp_path)
    assert message_files(tmp_path) == sorted(str(r.provider_message_id) for r in results)
    assert sorted(p.name for p in tmp_path.iterdir()) == message_files(tmp_path)  # no spool, no .part left
    for message, result in zip(messages, results, strict=True):
        name = str(result.provider_message_id)
        written = (tmp_path / name).read_bytes()
        # The boundary's random part was drawn at send; everything else follows from the message and its time.
        found = re.search(rb'boundary="=_pulse_[^"]*_([0-9a-f]{12})"', written)
        nonce = int(found.group(1), 16) if found else None
        sent_at = datetime.strptime(name[:23], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        assert written == mime_bytes(message, from_email=SENDER["from_email"], from_name=SENDER["from_name"], date=sent_at, boundary_nonce=nonce)
        assert (found is None) == (message.html is None)
    outbox.close()


def test_an_sms_from_the_spool_is_the_text_file_rendered_at_send(tmp_path: Path) -> None:
    outbox = spooling(tmp_path, medium="sms")
    texts = ["Hi -pulse_name-, how likely are you to recommend us? Reply 0-10", "Merci 🙏 -pulse_name-"]
    messages = [OutgoingMessage(message_id=f"sms-{n}", channel="sms", to=f"+1555000{n:04d}", text=texts[n % 2],
                                substitutions={"-pulse_name-": f"Ana {n}"}) for n in range(4)]
    results = outbox.send(messages)
    expand_outbox(tmp_path)
    for message, result in zip(messages, results, strict=True):
        name = str(result.provider_message_id)
        sent_at = datetime.strptime(name[:23], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        assert (tmp_path / name).read_bytes() == render_file("sms", message, sent_at, SENDER)
    assert results[1].segments == 1 and results[1].encoding == "UCS-2"
    outbox.close()


def test_an_expansion_cut_short_resumes_where_it_stopped_without_rewriting_or_duplicating(tmp_path: Path, email_message: Make) -> None:
    outbox = spooling(tmp_path)
    results = outbox.send([email_message(n) for n in range(10)])
    (spool,) = pending_spools(tmp_path)
    asked = iter(range(100))
    assert expand_spool(spool, pause=lambda: next(asked) >= 4) is None  # new sends: it steps aside after four
    first = {name: (tmp_path / name).stat().st_ino for name in message_files(tmp_path)}
    assert len(first) == 4 and pending_spools(tmp_path) == [spool]
    expand_outbox(tmp_path)
    assert message_files(tmp_path) == sorted(str(r.provider_message_id) for r in results)
    assert {name: (tmp_path / name).stat().st_ino for name in first} == first  # the files already written were kept
    assert pending_spools(tmp_path) == []
    outbox.close()


CRASH = """
import os, signal, sys
from pathlib import Path
from channels.outbox_spool import expand_spool, pending_spools
written = iter(range(100))
def crash_after_three():
    if next(written) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return False
expand_spool(pending_spools(Path(sys.argv[1]))[0], pause=crash_after_three)
"""


def test_a_process_killed_while_expanding_loses_nothing_and_the_next_expansion_finishes_once(tmp_path: Path, email_message: Make) -> None:
    outbox = spooling(tmp_path)
    results = outbox.send([email_message(n) for n in range(8)])
    killed = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path)], check=False)
    assert killed.returncode == -9
    assert len(message_files(tmp_path)) == 3 and len(pending_spools(tmp_path)) == 1  # its lock died with it
    entries = list_outbox(tmp_path)
    assert sorted(e.name for e in entries) == sorted(str(r.provider_message_id) for r in results)
    assert pending_spools(tmp_path) == [] and message_files(tmp_path) == sorted(e.name for e in entries)
    outbox.close()


def test_reading_the_outbox_expands_what_is_pending_and_close_writes_the_rest(tmp_path: Path, email_message: Make) -> None:
    outbox = spooling(tmp_path)
    (first,) = outbox.send([email_message(0)])
    document = read_outbox_entry(tmp_path, str(first.provider_message_id))  # expands the spool that holds it
    assert document.entry.to == "Contact 0 <contact0@customer.example>"
    outbox.send([email_message(1), email_message(2)])
    outbox.close()  # the process ends cleanly: every file on disk
    assert len(message_files(tmp_path)) == 3 and pending_spools(tmp_path) == []


def test_a_limited_listing_expands_only_the_spools_that_can_hold_the_newest_messages(tmp_path: Path, email_message: Make) -> None:
    older, newer = spooling(tmp_path, start=START), spooling(tmp_path, start=START + timedelta(hours=1))
    older.send([email_message(n) for n in range(3)])
    sent = newer.send([email_message(n) for n in range(3, 6)])
    newest = list_outbox(tmp_path, limit=2)
    assert [e.name for e in newest] == sorted((str(r.provider_message_id) for r in sent), reverse=True)[:2]
    assert len(pending_spools(tmp_path)) == 1  # the older call's files are none of the newest two: left for later
    assert len(list_outbox(tmp_path)) == 6 and pending_spools(tmp_path) == []
    older.close()
    newer.close()


def test_flush_writes_this_adapters_files_and_leaves_other_processes_spools(tmp_path: Path, email_message: Make) -> None:
    mine, theirs = spooling(tmp_path), spooling(tmp_path, start=START + timedelta(hours=1))
    (result,) = mine.send([email_message(0)])
    theirs.send([email_message(1)])
    mine.flush()  # a test-send waits for its own file, not for a step's backlog
    assert message_files(tmp_path) == [result.provider_message_id] and len(pending_spools(tmp_path)) == 1
    theirs.close()
    mine.close()


def test_the_expander_process_writes_the_files_of_the_spools_it_is_handed(tmp_path: Path, email_message: Make) -> None:
    outbox = spooling(tmp_path)
    results = outbox.send([email_message(n) for n in range(3)]) + outbox.send([email_message(3)])
    expander = SpoolExpander(tmp_path)
    for spool in pending_spools(tmp_path):
        expander.hand(spool)
    expander.close()  # the pipe closes; it ends once it has written what it was handed
    assert message_files(tmp_path) == sorted(str(r.provider_message_id) for r in results)
    assert pending_spools(tmp_path) == []
