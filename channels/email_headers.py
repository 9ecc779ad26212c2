"""Email pieces every email adapter shares: unsubscribe headers and the MIME message.

The dispatcher calls ``list_unsubscribe_headers`` and puts the result in
``OutgoingMessage.headers``; adapters send ``headers`` as given (SendGrid as
JSON, SMTP and the outbox through ``build_mime_message``), so every transport
carries the same one-click unsubscribe.
"""

from __future__ import annotations

import binascii
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import cast
from urllib.parse import urlsplit

from channels.base import OutgoingMessage, placeholder_filler, placeholder_pattern

# Headers the adapter itself writes from the message's fields; a template or the
# dispatcher setting them in ``headers`` would produce a second, conflicting copy.
# (SendGrid refuses the same ones: its Mail Send reference lists them as reserved.)
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "From", "To", "Cc", "Bcc", "Subject", "Reply-To", "Date", "Message-ID",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Received",
        "DKIM-Signature", "X-SG-ID", "X-SG-EID",
    )
)  # fmt: skip

ONE_CLICK = "List-Unsubscribe=One-Click"
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]")
_HEADER_UNSAFE = re.compile(r"[<>,\r\n ]")
_BOUNDARY_RANDOM = random.Random()  # seeded from os.urandom


def list_unsubscribe_headers(https_url: str, mailto: str | None = None) -> dict[str, str]:
    """``List-Unsubscribe`` (RFC 2369) with one-click ``List-Unsubscribe-Post`` (RFC 8058).

    The HTTPS URL comes first: RFC 8058 one-click needs it, and Gmail and Yahoo
    require one-click for bulk senders. A mailto (an address or a ``mailto:``
    URI) is added second for clients that only know mail. Raises ``ValueError``
    for a URL that is not HTTPS or contains characters a header cannot carry.
    """
    # "https://" and a host right after it is what urlsplit would find (the common case, without parsing).
    plain = https_url.startswith("https://") and https_url[8:9] not in ("", "/", "?", "#", "[")
    if not plain:
        parts = urlsplit(https_url)
        if parts.scheme != "https" or not parts.netloc:
            raise ValueError(f"the one-click unsubscribe URL must be https, got {https_url!r}")
    uris = [https_url]
    if mailto:
        uris.append(mailto if mailto.lower().startswith("mailto:") else f"mailto:{mailto}")
    for uri in uris:
        if not uri.isascii() or _HEADER_UNSAFE.search(uri):
            raise ValueError(f"{uri!r} must be percent-encoded before it goes in a header")
    return {
        "List-Unsubscribe": f"<{https_url}>" if len(uris) == 1 else ", ".join(f"<{uri}>" for uri in uris),
        "List-Unsubscribe-Post": ONE_CLICK,
    }


def message_id_header(message_id: str, domain: str) -> str:
    """A globally unique Message-ID that carries our own message id.

    Stable for one message, so a retried send has the same Message-ID and
    receivers that deduplicate on it show the message once; bounces quote it.
    """
    return f"<pulse.{_UNSAFE_ID.sub('_', message_id)}@{domain}>"


def sender_domain(email: str) -> str:
    return email.rpartition("@")[2] or "localhost"


def check_headers(headers: Mapping[str, str]) -> None:
    """Raise ``ValueError`` when a custom header would clash with one the adapter writes."""
    for name in headers:
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"the {name} header is set from the message, not in headers")


def mime_bytes(
    message: OutgoingMessage,
    *,
    from_email: str,
    from_name: str | None = None,
    date: datetime | None = None,
    boundary_nonce: int | None = None,
) -> bytes:
    """The message as RFC 5322 MIME bytes, placeholders filled in.

    multipart/alternative with text/plain first and text/html second (clients
    show the last part they understand), or text/plain alone. Headers: From,
    To with display name, Subject, Date, Message-ID (``message_id_header``),
    X-Pulse-Message-Id, then ``message.headers`` in their order. Raises
    ``ValueError`` for a message that cannot be sent as given (no subject, a
    reserved or multi-line header, an address without "@").

    Serialised by hand: the email package's generator (header folding,
    quoted-printable in Python) costs several milliseconds a message, which a
    100,000-message step cannot afford. Bodies are quoted-printable (C, via
    binascii), non-ASCII or very long header text RFC 2047 encoded words (folded).
    Every line ends in CRLF and none is longer than 998 characters (RFC 5322):
    smtplib sends bytes as they are, and strict servers refuse bare LF
    messages as one endless line ("500 Line too long").

    ``boundary_nonce`` (48 bits) makes the multipart boundary reproducible: the
    outbox draws it when it accepts a message and renders the file later, the
    same bytes whoever renders it. Without it one is drawn here.
    """
    # What ``materialize`` would fill, filled part by part: the bodies line by line as they are encoded.
    parted = message.per_part()
    subject = placeholder_filler(parted.substitutions)(parted.subject) if parted.substitutions else parted.subject
    if not subject:
        raise ValueError("an email needs a subject")
    filled_headers = message.filled_headers()
    check_headers(filled_headers)
    raw = [
        ("From", _sender(from_email, from_name)),
        ("To", _formatted(message.to, message.to_name)),
        *([("Reply-To", _formatted(message.reply_to, None))] if message.reply_to else []),
        ("Subject", subject),
        ("Date", format_datetime(date or datetime.now(UTC))),
        ("Message-ID", message_id_header(message.message_id, sender_domain(from_email))),
        ("X-Pulse-Message-Id", message.message_id),
        *filled_headers.items(),
        ("MIME-Version", "1.0"),
    ]
    joined = "".join(f"{name}{value}" for name, value in raw)
    if "\r" in joined or "\n" in joined:  # header injection
        name = next(name for name, value in raw if "\r" in name + value or "\n" in name + value)
        raise ValueError(f"header {name!r} contains a line break")
    # Checked before encoding: a long value is folded onto continuation lines on purpose.
    headers = [(name, value if name in ("From", "To", "Reply-To") else _header_text(value)) for name, value in raw]
    text = _part("plain", _quoted_printable(parted.text or "", parted.substitutions))
    html = _quoted_printable(parted.html, parted.substitutions) if parted.html else b""
    if html:  # an HTML part that fills in to nothing is left out, as an empty one always was
        # "=_" never occurs in quoted-printable text, so the boundary cannot; the random part
        # (from a generator seeded once, not a getrandom call per message) keeps it one of a kind.
        nonce = new_boundary_nonce() if boundary_nonce is None else boundary_nonce
        boundary = f"=_pulse_{_UNSAFE_ID.sub('_', message.message_id)}_{nonce:012x}"
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        body = b"".join([
            f"--{boundary}\n".encode(), text, f"\n--{boundary}\n".encode(),
            _part("html", html), f"\n--{boundary}--\n".encode(),
        ])
    else:
        body = text
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    # A lone text part brings its own Content-Type lines and the blank line that ends the headers.
    # Built with LF (no CR can be left in it: bodies are normalised, headers checked), sent with CRLF.
    return (head.encode("ascii") + (b"\n" if html else b"") + body).replace(b"\n", b"\r\n")


def new_boundary_nonce() -> int:
    """A fresh ``boundary_nonce`` for ``mime_bytes`` (from a generator seeded once, no syscall)."""
    return _BOUNDARY_RANDOM.getrandbits(48)


def _part(subtype: str, encoded: bytes) -> bytes:
    return f'Content-Type: text/{subtype}; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n\n'.encode() + encoded


def _quoted_printable(content: str, substitutions: Mapping[str, str]) -> bytes:
    """``content`` with its placeholders filled, line endings made LF, as quoted-printable.

    The bytes are those of encoding the whole filled text, but most of them come from a
    layout worked out once per content (``_layout``): quoted-printable starts afresh at every
    line break, so lines are encoded apart, and a value of printable ASCII other than "=" is
    copied as it is wherever it falls, so the lines naming only such values (the links) are
    encoded once with stand-ins of the same length, and each message's values are copied into
    their places. Lines naming other values (a name with a space) are filled and encoded per
    message; a carriage return anywhere takes the whole-text path.
    """
    if not substitutions or "\r" in content:
        return _whole_quoted_printable(placeholder_filler(substitutions)(content) if substitutions else content)
    copied = tuple(key for key, value in substitutions.items() if _COPIED.fullmatch(value) and value[-1] != ".")
    layout = _layout(content, tuple(substitutions), copied, tuple(len(substitutions[key]) for key in copied))
    fill = placeholder_filler(substitutions)
    encoded: list[bytes] = []
    for piece in layout:  # ``type() is``, not ``isinstance``: this loop runs per line of every message
        if type(piece) is bytes:
            encoded.append(piece)
        elif type(piece) is str:
            filled = fill(piece)
            if "\r" in filled:  # a value with a carriage return: CRLF handling spans lines
                return _whole_quoted_printable(fill(content))
            encoded.append(binascii.b2a_qp(filled.encode("utf-8"), istext=True))
        else:
            key, start, end = cast("tuple[str, int, int]", piece)
            encoded.append(substitutions[key][start:end].encode("ascii"))
    return b"".join(encoded)


def _whole_quoted_printable(content: str) -> bytes:
    return binascii.b2a_qp(content.replace("\r\n", "\n").encode("utf-8"), istext=True)


# A value quoted-printable copies byte for byte wherever it falls: printable ASCII but "=", and
# not ending in "." (a lone "." at the start of a line before its end is encoded). Only long ones
# (links): a first name's length changes from one contact to the next, and each is another layout.
_COPIED = re.compile(r"[!-<>-~]{16,}")
_STAND_INS = "~^`|{}"  # one the content does not hold stands in for the copied values


@lru_cache(maxsize=64)  # a step's messages share a handful of contents, and their links one length
def _layout(content: str, keys: tuple[str, ...], copied: tuple[str, ...], lengths: tuple[int, ...]) -> tuple[bytes | str | tuple[str, int, int], ...]:
    """``content`` as pieces: encoded bytes, a line to fill and encode per message, or a slice
    (key, start, end) of a copied value; ``lengths`` are the copied values' lengths."""
    tokens = placeholder_pattern(keys)
    width = dict(zip(copied, lengths, strict=True))
    mark = next((m for m in _STAND_INS if m not in content), None)
    layout: list[bytes | str | tuple[str, int, int]] = []
    block: list[str] = []  # lines encoded together: those naming no placeholder or copied values only
    named_in_block: list[str] = []

    def close() -> None:
        encoded = binascii.b2a_qp("".join(block).encode("utf-8"), istext=True)
        if not named_in_block:
            layout.append(encoded)
        else:  # each run of stand-ins is (a part of) the next values, in order; soft line breaks may split one
            assert mark is not None
            names = iter(named_in_block)
            key, left = "", 0
            for part in re.split(b"(" + re.escape(mark.encode()) + b"+)", encoded):
                if part[:1] != mark.encode():
                    layout.extend([part] if part else [])
                    continue
                at = 0
                while at < len(part):
                    if left == 0:
                        key = next(names)
                        left = width[key]
                    take = min(left, len(part) - at)
                    layout.append((key, width[key] - left, width[key] - left + take))
                    left, at = left - take, at + take
        block.clear()
        named_in_block.clear()

    lines = content.split("\n")  # only LF ends a line here (str.splitlines knows a dozen other breaks)
    for line in [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else []):
        named = [found.group() for found in tokens.finditer(line)]
        if named and (mark is None or any(key not in width for key in named)):
            if block:
                close()
            layout.append(line)
            continue
        block.append(tokens.sub(lambda found: (mark or "") * width[found.group()], line) if named else line)
        named_in_block.extend(named)
    if block:
        close()
    return tuple(layout)


MAX_PLAIN_HEADER = 900  # a longer value is folded, so no header line passes 998 characters


def _header_text(value: str) -> str:
    if value.isascii() and len(value) <= MAX_PLAIN_HEADER:
        return value
    return Header(value, "utf-8").encode(linesep="\n")


def build_mime_message(
    message: OutgoingMessage,
    *,
    from_email: str,
    from_name: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """``mime_bytes`` parsed back as an ``EmailMessage``, for reading its parts."""
    raw = mime_bytes(message, from_email=from_email, from_name=from_name, date=date)
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


@lru_cache(maxsize=64)
def _sender(email: str, name: str | None) -> str:
    """From: the channel's own address, formatted once."""
    return _formatted(email, name)


def _formatted(email: str, name: str | None) -> str:
    _address(email, name)  # the same checks as ever: refuses an address without "@"
    if not email.isascii():
        raise ValueError(f"{email!r}: non-ASCII addresses need SMTPUTF8, which Pulse does not send")
    return formataddr((name or "", email), charset="utf-8")


def _address(email: str, name: str | None) -> Address:
    username, at, domain = email.rpartition("@")
    if not at or not username or not domain:
        raise ValueError(f"{email!r} is not an email address")
    return Address(display_name=name or "", username=username, domain=domain)
