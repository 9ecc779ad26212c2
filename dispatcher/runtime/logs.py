"""Logging for every Pulse process: one JSON object per line in production, readable lines in development.

structlog renders both Pulse's own events and every library's (uvicorn's
access log, Celery, SQLAlchemy) through one chain, so each line gets the same
treatment: the ids bound for the current request or task (request id,
campaign, step, message), and redaction. Survey and unsubscribe tokens, API
keys and personal data (email addresses, phone numbers, names, comments) never
reach a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
# Keys whose values are personal data or secrets, wherever they appear in an event.
SECRET_KEYS = frozenset({
    "token", "email", "phone", "recipient", "to", "name", "comment", "text", "address", "authorization",
    "password", "secret", "api_key", "signature",
})
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Answer and unsubscribe links: /r/<token>, /u/<token> (paths in access logs and URLs).
    (re.compile(r"(/[ru]/)[A-Za-z0-9._~%-]+"), rf"\1{REDACTED}"),
    (re.compile(r"(\btoken=)[^&\s\"']+"), rf"\1{REDACTED}"),
    (re.compile(r"\bpulse_[A-Za-z0-9]+_[A-Za-z0-9_-]+"), f"pulse_{REDACTED}"),  # API keys
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), rf"\1{REDACTED}"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), REDACTED),  # email addresses
    (re.compile(r"\+[1-9]\d{7,14}\b"), REDACTED),  # E.164 phone numbers
)

ContextSource = Callable[[], dict[str, Any]]
_context_sources: list[ContextSource] = []


# What any of PATTERNS needs to match (each pattern's match contains one of these): a text
# without any is left as it is after one search, not six substitutions (most log strings).
_MAY_REDACT = re.compile(r"/[ru]/|token=|pulse_|bearer\s|@|\+[1-9]", re.IGNORECASE)
# Written by the logging chain itself, never from a request or a row: nothing to redact.
_OWN_KEYS = frozenset({"timestamp", "level", "logger"})


def redact_text(text: str) -> str:
    """``text`` with tokens, keys, email addresses and phone numbers replaced by ``[redacted]``."""
    if _MAY_REDACT.search(text) is None:
        return text
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: secret keys blanked, every string scrubbed of tokens and personal data."""
    event.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
    for key, value in list(event.items()):
        if key.startswith("_") or key in _OWN_KEYS:
            continue
        if key.lower() in SECRET_KEYS and value is not None:
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def add_context(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: what the process's context sources know now (the API adds the request id)."""
    for source in _context_sources:
        for key, value in source().items():
            if value is not None:
                event.setdefault(key, value)
    return event


def add_context_source(source: ContextSource) -> None:
    """Register a function whose dict is added to every log line (e.g. the current request id)."""
    if source not in _context_sources:
        _context_sources.append(source)


def configure_logging(*, json: bool, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Route every logger through structlog: JSON lines when ``json``, else console lines. Idempotent."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info if json else structlog.processors.StackInfoRenderer(),
        redact,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_pulse", False)]:
        root.removeHandler(old)
    handler._pulse = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "celery"):
        logger = logging.getLogger(name)
        logger.handlers.clear()  # uvicorn's and Celery's own handlers would print a second, unredacted line
        logger.propagate = True
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A structlog logger: ``log.info("answer recorded", campaign_id=..., episode_id=...)``."""
    return structlog.get_logger(name)


def task_context(task: str, args: tuple[Any, ...]) -> Any:
    """Bind the task's name and its arguments (tasks take ids only) to every log line written while it runs."""
    ids = {f"{task}_args": list(args)[:3]} if args else {}
    return structlog.contextvars.bound_contextvars(task=task, **ids)
