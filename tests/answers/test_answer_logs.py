"""Log lines of an answer: one JSON object each, carrying the request, campaign and episode ids, and no token or address."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.people.models import Contact
from dispatcher.runtime.core import Runtime
from dispatcher.runtime.logs import PATTERNS, configure_logging, redact_text
from tests.answers.fixtures_links import person_form, responses, send, survey


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Pulse's production logging (JSON lines) into a buffer, for one test."""
    buffer = io.StringIO()
    configure_logging(json=True, stream=buffer)
    yield buffer
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_pulse", False)]:
        root.removeHandler(handler)


def test_an_answers_log_line_carries_its_ids_and_no_token(runtime: Runtime, session: Session, link_client: TestClient, json_log: io.StringIO) -> None:
    item = survey(runtime)
    send(runtime, item)
    posted = link_client.post(item.answer_path, data=person_form(runtime, item, score=3, comment="call me at +14155550100"),
                              headers={"X-Request-ID": "req-answer-1"}, follow_redirects=False)
    assert posted.status_code == 303
    assert posted.headers["X-Request-ID"] == "req-answer-1"
    # What uvicorn's access log writes for that request (same logger, same arguments).
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "POST", item.answer_path, "1.1", 303)

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    response = responses(session, item)[0]
    recorded = next(line for line in lines if line["event"] == "answer recorded")
    assert recorded["request_id"] == "req-answer-1"
    assert (recorded["campaign_id"], recorded["episode_id"], recorded["response_id"]) == (response.campaign_id, response.episode_id, response.id)
    assert recorded["level"] == "info" and recorded["medium"] == "email"
    access = next(line for line in lines if line.get("logger") == "uvicorn.access")
    assert "/r/[redacted]" in access["event"]
    everything = json_log.getvalue()
    token = item.answer_path.rsplit("/", 1)[1]
    assert token not in everything
    email = session.scalar(select(Contact.email).where(Contact.id == item.contact_id))
    assert email and email not in everything and "+14155550100" not in everything


def test_redaction_covers_unsubscribe_links_keys_and_addresses() -> None:
    text = redact_text("GET /u/abc.DEF-123?x=1 by kim@example.com key pulse_1a2b3c_SECRETpart Bearer pulse_x_y +4915112345678")
    assert text == "GET /u/[redacted]?x=1 by [redacted] key pulse_[redacted] Bearer [redacted] [redacted]"


def test_the_quick_check_skips_only_texts_no_pattern_changes() -> None:
    """``redact_text`` looks for what any pattern needs before substituting: each pattern's own
    examples (in any case where the pattern ignores it) are still redacted, as all six would."""
    def every_pattern(text: str) -> str:
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    texts = [
        "POST /r/AbC.d-9~%20 HTTP/1.1", "/u/x", "?token=abc&x=1", "a token=xyz", "key pulse_1a2b_c-D", "BEARER abc", "bearer\tabc",
        "kim@example.com", "call +4915112345678.", "+1202555000123", "answer recorded", "detractor", "127.0.0.1:38748", "POST",
        "HTTP/1.1", "/v1/contacts", "+0123456789", "a+b", "mail at example.com", "pulse run", "Bearer", "/r", "", "r/u/",
    ]
    for text in texts:
        assert redact_text(text) == every_pattern(text), text
    assert redact_text("answer recorded") == "answer recorded"


def test_database_errors_never_show_bound_parameters(runtime: Runtime) -> None:
    """An error's text (which ends up in logs and tracebacks) names the statement, not the personal data in it."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with runtime.engine.connect() as connection, pytest.raises(DBAPIError) as raised:
        connection.execute(text("SELECT * FROM no_such_table WHERE email = :email"), {"email": "kim@example.com"})
    assert "kim@example.com" not in str(raised.value)
    assert "hidden" in str(raised.value)
