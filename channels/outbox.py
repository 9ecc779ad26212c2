"""The development channel: every message becomes a file in a folder.

Emails are written as ``.eml`` (the same MIME the SMTP adapter sends, so what
a developer opens is what a customer would get), SMS as ``.txt`` with the
segment count a carrier would bill. File names sort by time and are unique:
``20261123T101500.123456Z-<message_id>-<to>.eml``. A file appears whole or not
at all (written aside, then renamed), so the API's outbox page never shows
half a message.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path
from typing import Literal

from channels.base import ChannelError, ErrorKind, OutgoingMessage, SendResult
from channels.email_headers import mime_bytes
from channels.sms_encoding import count_segments

log = logging.getLogger(__name__)
Medium = Literal["email", "sms"]
_EXTENSIONS: dict[str, Medium] = {".eml": "email", ".txt": "sms"}
_STAMP = "%Y%m%dT%H%M%S.%fZ"
_NAME = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)-[A-Za-z0-9._-]+\.(eml|txt)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


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

    With ``background=True`` (the dispatcher's), ``send`` names each file and
    returns at once; a writer thread renders and writes the files while the
    caller records the results, and ``flush`` waits until every file is on disk.
    A folder that cannot be written fails the whole call before anything is queued.
    """

    max_batch = 1000  # a step batch's worth: one claim, one results write

    def __init__(self, config: OutboxConfig, *, clock: Callable[[], datetime] | None = None, background: bool = False):
        self.config = config
        self.medium = config.medium
        self.name = f"outbox_{config.medium}"
        self.directory = Path(config.directory)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._background = background
        self._queue: queue.Queue[list[tuple[OutgoingMessage, str, datetime]] | None] = queue.Queue()
        self._writer: threading.Thread | None = None

    def build_requests(self, messages: Sequence[OutgoingMessage]) -> list[OutboxFile]:
        """The files ``send`` would write; messages it would refuse are left out."""
        files = []
        for message in messages:
            try:
                files.append(self._file(message))
            except ValueError:
                continue
        return files

    def _file(self, message: OutgoingMessage) -> OutboxFile:
        now = self._clock().astimezone(UTC)
        name = self._name(message, now)
        return OutboxFile(message.message_id, name, self._content(message, now))

    def _name(self, message: OutgoingMessage, now: datetime) -> str:
        if message.channel != self.medium:
            raise ValueError(f"a {message.channel} message cannot go to the {self.name} outbox")
        extension = "eml" if self.medium == "email" else "txt"
        return f"{now.strftime(_STAMP)}-{_slug(message.message_id)}-{_slug(message.to)}.{extension}"

    def _content(self, message: OutgoingMessage, now: datetime) -> bytes:
        if self.medium == "email":
            return mime_bytes(message, from_email=self.config.from_email, from_name=self.config.from_name, date=now)
        text = message.materialize().text
        cost = count_segments(text)
        lines = [
            f"To: {message.to}",
            f"From: {self.config.from_number}",
            f"Message-Id: {message.message_id}",
            f"Date: {now.isoformat()}",
            f"Encoding: {cost.encoding}",
            f"Segments: {cost.segments}",
            "",
            text,
        ]
        return "\n".join(lines).encode("utf-8")

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Write one file per message; the provider id is the file name. Never raises."""
        if self._background:
            try:  # the folder's problems show now, for the whole call, not later in the writer
                self.directory.mkdir(parents=True, exist_ok=True)
                if not os.access(self.directory, os.W_OK):
                    raise PermissionError(f"{self.directory} is not writable")
            except (PermissionError, NotADirectoryError, FileExistsError) as exc:
                error = ChannelError(ErrorKind.MISCONFIGURED, "outbox_unwritable", str(exc))
                return [SendResult(message.message_id, error=error) for message in messages]
        results = []
        queued: list[tuple[OutgoingMessage, str, datetime]] = []  # handed to the writer at once, not one by one
        for message in messages:
            now = self._clock().astimezone(UTC)
            try:
                name = self._name(message, now)
            except ValueError as exc:
                error = ChannelError(ErrorKind.PERMANENT, "invalid_message", str(exc))
                results.append(SendResult(message.message_id, error=error))
                continue
            if self._background:
                queued.append((message, name, now))
            else:
                try:
                    _write_atomically(self.directory, name, self._content(message, now))
                except (PermissionError, NotADirectoryError, FileExistsError) as exc:
                    error = ChannelError(ErrorKind.MISCONFIGURED, "outbox_unwritable", str(exc))
                    results.append(SendResult(message.message_id, error=error))
                    continue
                except OSError as exc:  # a full disk, for one, may pass
                    error = ChannelError(ErrorKind.TRANSIENT, "outbox_write_failed", str(exc))
                    results.append(SendResult(message.message_id, error=error))
                    continue
            cost = count_segments(message.materialize().text) if self.medium == "sms" else None
            results.append(
                SendResult(
                    message.message_id,
                    provider_message_id=name,
                    segments=cost.segments if cost else None,
                    encoding=cost.encoding if cost else None,
                )
            )
        if queued:
            self._start_writer()
            self._queue.put(queued)
        return results

    def _start_writer(self) -> None:
        if self._writer is None or not self._writer.is_alive():
            self._writer = threading.Thread(target=self._write_queued, name=f"{self.name}-writer", daemon=True)
            self._writer.start()

    def _write_queued(self) -> None:
        while (batch := self._queue.get()) is not None:
            try:
                for message, name, now in batch:
                    try:
                        _write_atomically(self.directory, name, self._content(message, now))
                    except Exception:  # the development outbox: a lost file is logged, the send is not undone
                        log.exception("outbox %s: could not write %s", self.name, name)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued file is written."""
        if self._writer is not None:
            self._queue.join()

    def close(self) -> None:
        """Write what is queued and stop the writer; the adapter may be used again afterwards."""
        if self._writer is not None and self._writer.is_alive():
            self._queue.put(None)
            self._queue.join()
        self._writer = None


def _slug(value: str) -> str:
    return _UNSAFE.sub("_", value).strip("._")[:64] or "x"


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _write_atomically(directory: Path, name: str, content: bytes) -> None:
    # Hidden temp file in the same folder, then rename: readers see all or nothing. Its name is
    # the file's own (unique: a time and a message id), so no mkstemp and its retries per file.
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


def _entry(path: Path) -> OutboxEntry | None:
    match = _NAME.match(path.name)
    if match is None or not path.is_file():
        return None
    created = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)
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
    """The outbox's messages, newest first; a missing folder is an empty outbox."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
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
        text_part.get_content() if text_part is not None else None,  # type: ignore[attr-defined]
        html_part.get_content() if html_part is not None else None,  # type: ignore[attr-defined]
        raw.decode("utf-8", "replace"),
    )
