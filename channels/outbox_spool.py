"""The development outbox's spool: one file per send call, expanded into a file per message later.

Creating a file costs the kernel 150–200 µs and rendering a MIME message ~70 µs; a
100,000-contact step cannot wait for that. ``write_spool`` writes what a call's
messages need to become their files as one JSON file (each content once; per message
its id, file name, recipient, placeholder values and boundary nonce), atomically, and
returns. ``expand_spool`` renders the files later, byte for byte what rendering at send
time gives: the time is the file name's, the multipart boundary's random part was drawn
when the message was accepted.

Spool files are hidden (``.spool-<oldest>-<newest>-<pid>-<n>.json``, the stamps of their
first and last message), so listings and file managers skip them. One expander at a time
holds a spool file's lock (``flock``, across processes and threads); a message whose file is
already on disk is not written again, so an expansion cut short (a crash, a pause for new
sends) resumes where it stopped without duplicates; the spool is deleted once every file
of it is written.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from channels.base import OutgoingMessage
from channels.email_headers import mime_bytes
from channels.sms_encoding import count_segments

log = logging.getLogger(__name__)
STAMP = "%Y%m%dT%H%M%S.%fZ"  # a file name's first 23 characters: when the message was accepted
STAMP_LENGTH = 23
_PREFIX, _SUFFIX = ".spool-", ".json"
_FORMAT = 1
_numbers = itertools.count(1)


def render_file(medium: str, message: OutgoingMessage, now: datetime, sender: dict[str, Any], nonce: int | None = None) -> bytes:
    """One message's file: MIME for an email, the text with its segment count for an SMS.
    ``sender`` holds from_email, from_name and from_number. Raises ``ValueError`` for an email
    ``mime_bytes`` refuses."""
    if medium == "email":
        return mime_bytes(message, from_email=sender["from_email"], from_name=sender["from_name"], date=now, boundary_nonce=nonce)
    text = message.materialize().text
    cost = count_segments(text)
    lines = [
        f"To: {message.to}",
        f"From: {sender['from_number']}",
        f"Message-Id: {message.message_id}",
        f"Date: {now.isoformat()}",
        f"Encoding: {cost.encoding}",
        f"Segments: {cost.segments}",
        "",
        text,
    ]
    return "\n".join(lines).encode("utf-8")


def write_spool(directory: Path, medium: str, sender: dict[str, Any], accepted: Sequence[tuple[OutgoingMessage, str, int]]) -> Path:
    """Write one spool file for (message, file name, boundary nonce) triples; returns its path.

    On disk whole before it returns (written aside, then renamed; no fsync, as for the
    files: a development outbox). Raises ``OSError`` when the folder cannot take it.
    """
    contents: dict[tuple[Any, ...], int] = {}
    rows = []
    for message, name, nonce in accepted:
        shape = (message.subject, message.text, message.html, tuple(message.substitutions), tuple(message.headers))
        index = contents.get(shape)
        if index is None:
            index = contents[shape] = len(contents)
        rows.append([index, message.message_id, name, message.to, message.to_name, message.reply_to, nonce,
                     list(message.substitutions.values()), list(message.headers.values()) if message.headers else []])
    stamps = [name[:STAMP_LENGTH] for _, name, _ in accepted]
    document = {"format": _FORMAT, "medium": medium, "sender": sender, "contents": list(contents), "messages": rows}
    spool = f"{_PREFIX}{min(stamps)}-{max(stamps)}-{os.getpid()}-{next(_numbers)}{_SUFFIX}"
    write_atomically(directory, spool, json.dumps(document, separators=(",", ":")).encode("ascii"))
    return directory / spool


def pending_spools(directory: Path) -> list[Path]:
    """The spool files not yet expanded, oldest first; a missing folder has none."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(_PREFIX) and n.endswith(_SUFFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [directory / n for n in sorted(names)]


def spool_span(path: Path) -> tuple[str, str]:
    """The stamps of a spool's first and last message (from its name)."""
    first = path.name[len(_PREFIX):len(_PREFIX) + STAMP_LENGTH]
    return first, path.name[len(_PREFIX) + STAMP_LENGTH + 1:len(_PREFIX) + 2 * STAMP_LENGTH + 1]


def expand_spool(path: Path, *, pause: Callable[[], bool] | None = None) -> list[str] | None:
    """Write the files of one spool and delete it; the names it held, or ``None`` when ``pause``
    said to stop (the tests' way to cut an expansion short). Waits for another expander of it.

    Safe to run twice and in several processes at once: files already written are skipped.
    A message that cannot be rendered is logged and left out (as a provider would bounce it);
    an ``OSError`` writing a file (a full disk) propagates and the spool stays for next time.
    """
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return []  # expanded by someone else meanwhile
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not path.exists():
            return []  # finished by the expander we waited for
        spool = json.loads(handle.read())
        medium, sender, folder = spool["medium"], spool["sender"], path.parent
        contents = spool["contents"]
        names = []
        for index, message_id, name, to, to_name, reply_to, nonce, values, header_values in spool["messages"]:
            names.append(name)
            if pause is not None and pause():
                return None
            if os.path.exists(os.path.join(folder, name)):
                continue  # written before a crash or a pause
            subject, text, html, keys, header_keys = contents[index]
            message = OutgoingMessage(
                message_id=message_id, channel=medium, to=to, text=text, subject=subject, html=html,
                substitutions=dict(zip(keys, values, strict=True)), headers=dict(zip(header_keys, header_values, strict=True)),
                to_name=to_name, reply_to=reply_to,
            )
            try:
                content = render_file(medium, message, datetime.fromisoformat(name[:STAMP_LENGTH]), sender, nonce)
            except ValueError:
                log.exception("outbox: could not render %s", name)
                continue
            write_atomically(folder, name, content)
        os.unlink(path)
    return names


def expand_all(directory: Path) -> None:
    """Expand every pending spool of the folder, oldest first."""
    for path in pending_spools(directory):
        expand_spool(path)


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def write_atomically(directory: Path, name: str, content: bytes) -> None:
    """Write a file whole or not at all: a hidden temporary file in the same folder, then a rename.

    The temporary file is named after the file (unique: a time and a message id, or a spool's
    own), so no mkstemp and its retries; one expander at a time writes a spool's files.
    """
    folder = str(directory)
    temp, final = os.path.join(folder, f".{name}.part"), os.path.join(folder, name)
    try:
        fd = os.open(temp, _CREATE, 0o600)
    except FileNotFoundError:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, _CREATE, 0o600)
    try:
        try:
            # No fsync: this is the development outbox, and a lost file after a
            # power cut costs nothing; an fsync per message costs ~10 ms.
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temp, final)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
