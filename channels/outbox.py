"""The development channel: every message becomes a file in a folder.

Emails are written as ``.eml`` (the same MIME the SMTP adapter sends, so what
a developer opens is what a customer would get), SMS as ``.txt`` with the
segment count a carrier would bill. File names sort by time and are unique:
``20261123T101500.123456Z-<message_id>-<to>.eml``. A file appears whole or not
at all (written aside, then renamed), so the API's outbox page never shows
half a message.

``send`` writes one spool file per call (``channels.outbox_spool``) and the
files are expanded from it: at once (the default), or — the dispatcher's, with
``background=True`` — by an expander process beside the sending one
(``channels.outbox_expander``), so a step never waits for a file per message. Reading the
outbox (``list_outbox``, ``read_outbox_entry``, ``expand_outbox``) expands
what is pending first, so what a reader sees is complete.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Any, Literal

from channels.base import ChannelError, ErrorKind, OutgoingMessage, SendResult
from channels.email_headers import new_boundary_nonce
from channels.outbox_expander import SpoolExpander
from channels.outbox_spool import (
    STAMP,
    STAMP_LENGTH,
    expand_all,
    expand_spool,
    pending_spools,
    render_file,
    spool_span,
    write_spool,
)
from channels.sms_encoding import count_segments

log = logging.getLogger(__name__)
Medium = Literal["email", "sms"]
_EXTENSIONS: dict[str, Medium] = {".eml": "email", ".txt": "sms"}
_NAME = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-[A-Za-z0-9._-]+\.(eml|txt)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_expanders: dict[Path, SpoolExpander] = {}  # one expander process per folder, whichever adapter sends
_expanders_lock = threading.Lock()


@dataclass(frozen=True, kw_only=True)
class OutboxConfig:
    directory: str | Path
    medium: Medium = "email"
    from_email: str = "pulse@localhost"
    from_name: str | None = None
    from_number: str = "Pulse"  # SMS sender shown in the .txt file

    def __post_init__(self) -> None:
        if self.medium not in _EXTENSIONS.values():
            raise ValueError(f"medium must be email or sms, not {self.medium!r}")


@dataclass(frozen=True)
class OutboxFile:
    """A file ``send`` would write: its name and its bytes."""

    message_id: str
    name: str
    content: bytes


@dataclass(frozen=True)
class OutboxEntry:
    name: str
    medium: Medium
    to: str
    subject: str | None  # emails only
    created: datetime  # UTC, from the file name
    path: Path


@dataclass(frozen=True)
class OutboxDocument:
    """One outbox file, read for display."""

    entry: OutboxEntry
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None  # emails with an HTML part; show it sandboxed, it is a template's output
    raw: str


class OutboxChannel:
    """Writes messages as files; names ``outbox_email`` and ``outbox_sms``.

    ``send`` writes one spool file for the call and returns; the provider id is
    the message's file name. By default the files are expanded before ``send``
    returns. With ``background=True`` (the dispatcher's) an expander process
    writes them (``channels.outbox_expander``: a thread rendering MIME while a
    step sends would take the GIL from it); with ``expander=False`` too, only
    readers, ``flush`` and ``close`` do. ``flush`` writes this adapter's pending
    files now; ``close`` waits until the expander has written what it was handed
    and writes the rest. The spool is on disk before ``send`` returns, so a
    crash loses nothing: the next expansion takes it up.
    """

    max_batch = 1000  # a step batch's worth: one claim, one results write

    def __init__(self, config: OutboxConfig, *, clock: Callable[[], datetime] | None = None, background: bool = False,
                 expander: bool = True):
        self.config = config
        self.medium = config.medium
        self.name = f"outbox_{config.medium}"
        self.directory = Path(config.directory)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._background = background
        self._expander = expander
        self._sender: dict[str, Any] = {"from_email": config.from_email, "from_name": config.from_name, "from_number": config.from_number}
        self._lock = threading.Lock()
        self._spools: set[Path] = set()  # written by this adapter, not yet known to be expanded (one per call)
        self._stamped: tuple[datetime, str] | None = None  # a second and its stamp, for file names

    def build_requests(self, messages: Sequence[OutgoingMessage]) -> list[OutboxFile]:
        """The files ``send`` would write; messages it would refuse are left out."""
        files = []
        for message in messages:
            try:
                now = self._clock().astimezone(UTC)
                name = self._name(message, now)
                files.append(OutboxFile(message.message_id, name, render_file(self.medium, message, now, self._sender)))
            except ValueError:
                continue
        return files

    def _name(self, message: OutgoingMessage, now: datetime) -> str:
        if message.channel != self.medium:
            raise ValueError(f"a {message.channel} message cannot go to the {self.name} outbox")
        extension = "eml" if self.medium == "email" else "txt"
        second = now.replace(microsecond=0)
        stamped = self._stamped
        if stamped is None or stamped[0] != second:  # strftime once a second, not once a message
            stamped = self._stamped = (second, second.strftime(STAMP[:-4]))
        return f"{stamped[1]}.{now.microsecond:06d}Z-{_slug(message.message_id)}-{_slug(message.to)}.{extension}"

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Write the call's spool file; the provider id is the message's file name. Never raises."""
        results: list[SendResult] = []
        accepted: list[tuple[OutgoingMessage, str, int]] = []
        placed: list[int] = []  # where each accepted message's result is
        email = self.medium == "email"
        for message in messages:
            now = self._clock().astimezone(UTC)
            try:
                name = self._name(message, now)
            except ValueError as exc:
                error = ChannelError(ErrorKind.PERMANENT, "invalid_message", str(exc))
                results.append(SendResult(message.message_id, error=error))
                continue
            # Drawn now, so the file rendered later has the boundary it would have had now.
            accepted.append((message, name, new_boundary_nonce() if email and message.html else 0))
            placed.append(len(results))
            cost = None if email else count_segments(message.materialize().text)
            results.append(SendResult(message.message_id, provider_message_id=name,
                                      segments=cost.segments if cost else None, encoding=cost.encoding if cost else None))
        if not accepted:
            return results
        try:
            spool = write_spool(self.directory, self.medium, self._sender, accepted)
        except OSError as exc:
            if isinstance(exc, PermissionError | NotADirectoryError | FileExistsError):
                error = ChannelError(ErrorKind.MISCONFIGURED, "outbox_unwritable", str(exc))
            else:  # a full disk, for one, may pass
                error = ChannelError(ErrorKind.TRANSIENT, "outbox_write_failed", str(exc))
            for at in placed:
                results[at] = SendResult(results[at].message_id, error=error)
            return results
        if not self._background:
            expand_spool(spool)
            return results
        with self._lock:
            if len(self._spools) >= 64:  # those an expander has done are forgotten now and then, not tracked
                self._spools = {path for path in self._spools if path.exists()}
            self._spools.add(spool)
        if self._expander:
            _expander_of(self.directory).hand(spool)
        return results

    def _forget_expanded(self) -> None:
        with self._lock:
            self._spools = {path for path in self._spools if path.exists()}

    def flush(self) -> None:
        """Write the files of every message this adapter has accepted so far (waits for another expander of them)."""
        with self._lock:
            spools = sorted(self._spools)
        for path in spools:
            expand_spool(path)
        self._forget_expanded()

    def close(self) -> None:
        """Wait for the folder's expander, then write what is left of this adapter's; usable again afterwards."""
        with _expanders_lock:
            expander = _expanders.pop(self.directory, None)
        if expander is not None:
            expander.close()
        self.flush()


def _expander_of(directory: Path) -> SpoolExpander:
    with _expanders_lock:
        expander = _expanders.get(directory)
        if expander is None:
            expander = _expanders[directory] = SpoolExpander(directory)
        return expander


def _slug(value: str) -> str:
    return _UNSAFE.sub("_", value).strip("._")[:64] or "x"


def expand_outbox(directory: str | Path) -> None:
    """Write every message's file whose spool is still pending (waits for other expanders)."""
    expand_all(Path(directory))


def _entry(path: Path) -> OutboxEntry | None:
    match = _NAME.match(path.name)
    if match is None or not path.is_file():
        return None
    created = datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)
    medium = _EXTENSIONS[path.suffix]
    with path.open("rb") as handle:
        if medium == "email":
            headers = BytesHeaderParser(policy=policy.default).parse(handle)
            to, subject = str(headers.get("To", "")), headers.get("Subject")
        else:
            fields = dict(_sms_headers(handle.read().decode("utf-8", "replace"))[0])
            to, subject = fields.get("To", ""), None
    return OutboxEntry(
        path.name, medium, to, None if subject is None else str(subject), created, path
    )


def _sms_headers(raw: str) -> tuple[list[tuple[str, str]], str]:
    head, _, body = raw.partition("\n\n")
    pairs = [line.split(": ", 1) for line in head.splitlines() if ": " in line]
    return [(k, v) for k, v in pairs], body


def list_outbox(directory: str | Path, limit: int | None = None) -> list[OutboxEntry]:
    """The outbox's messages, newest first; a missing folder is an empty outbox.

    Pending spools that may hold one of the newest ``limit`` messages are expanded first
    (all of them without a limit); older ones are left to the sender's expansion.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return []
    _expand_newest(folder, limit)
    names = sorted((p for p in folder.iterdir() if _NAME.match(p.name)), reverse=True)
    entries = []
    for path in names[:limit]:
        entry = _entry(path)
        if entry is not None:
            entries.append(entry)
    return entries


def read_outbox_entry(directory: str | Path, name: str) -> OutboxDocument:
    """One message of the outbox by file name.

    Raises ``ValueError`` for a name that is not an outbox file name (so "../x",
    absolute paths and hidden files are refused before any file is touched) and
    ``FileNotFoundError`` when there is no such message.
    """
    if not _NAME.match(name) or "/" in name or "\\" in name:
        raise ValueError(f"{name!r} is not an outbox file name")
    folder = Path(directory).resolve()
    path = (folder / name).resolve()
    if path.parent != folder:
        raise ValueError(f"{name!r} is not in the outbox")
    if not path.is_file():  # perhaps still in a spool: expand those whose span holds its time
        stamp = name[:STAMP_LENGTH]
        for spool in pending_spools(folder):
            first, last = spool_span(spool)
            if first <= stamp <= last:
                expand_spool(spool)
    entry = _entry(path)
    if entry is None:
        raise FileNotFoundError(name)
    raw = path.read_bytes()
    if entry.medium == "sms":
        headers, body = _sms_headers(raw.decode("utf-8", "replace"))
        return OutboxDocument(entry, headers, body, None, raw.decode("utf-8", "replace"))
    message = BytesParser(policy=policy.default).parsebytes(raw)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    return OutboxDocument(
        entry,
        [(k, str(v)) for k, v in message.items()],
        text_part.get_content() if text_part is not None else None,
        html_part.get_content() if html_part is not None else None,
        raw.decode("utf-8", "replace"),
    )


def _expand_newest(folder: Path, limit: int | None) -> None:
    """Expand the pending spools that can hold one of the newest ``limit`` messages, newest first."""
    spools = pending_spools(folder)
    if not spools:
        return
    if limit is None:
        expand_all(folder)
        return
    newest = sorted((n[:STAMP_LENGTH] for n in os.listdir(folder) if _NAME.match(n)), reverse=True)[:limit]
    for spool in sorted(spools, key=lambda p: spool_span(p)[1], reverse=True):
        if len(newest) >= limit and spool_span(spool)[1] < newest[-1]:
            continue  # every message of it is older than the newest ``limit``
        names = expand_spool(spool) or []
        newest = sorted(newest + [n[:STAMP_LENGTH] for n in names], reverse=True)[:limit]
