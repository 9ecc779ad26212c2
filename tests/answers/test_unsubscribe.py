"""Unsubscribe: RFC 8058 one-click, the footer link's confirm page, and no email after it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.programs.models import Message, Suppression
from channels.outbox import expand_outbox
from dispatcher.runtime.core import Runtime
from tests.answers.fixtures_links import send, sent_email, survey


def suppressions(session: Session) -> list[tuple[str, str, str]]:
    session.expire_all()
    return [(s.medium, s.address, s.reason) for s in session.scalars(select(Suppression).order_by(Suppression.id))]


def test_the_footer_link_only_shows_a_confirm_page(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)

    page = link_client.get(item.unsubscribe_path)
    head = link_client.head(item.unsubscribe_path)

    assert page.status_code == head.status_code == 200
    assert "Unsubscribe from survey emails?" in page.text and '<form method="post"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert suppressions(session) == []


def test_one_click_unsubscribes_with_200_and_no_redirect_and_can_be_repeated(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime, email="ana@example.com")
    link_client.cookies.clear()

    first = link_client.post(item.unsubscribe_path, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    again = link_client.post(item.unsubscribe_path, files={"List-Unsubscribe": (None, "One-Click")}, follow_redirects=False)

    assert first.status_code == again.status_code == 200
    assert "You are unsubscribed" in first.text
    assert suppressions(session) == [("email", "ana@example.com", "unsubscribed")]
    [row] = session.scalars(select(Suppression)).all()
    assert row.source is not None and row.source.startswith("list-unsubscribe one-click")


def test_the_confirm_pages_button_unsubscribes(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime, email="ben@example.com", locale="de")

    done = link_client.post(item.unsubscribe_path)

    assert done.status_code == 200 and "Sie sind abgemeldet" in done.text
    assert suppressions(session) == [("email", "ben@example.com", "unsubscribed")]


def test_a_bad_unsubscribe_token_gets_the_invalid_link_page(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime)
    answer_token = item.answer_path.rsplit("/", 1)[1]

    refused = [link_client.post(f"/u/{answer_token}"), link_client.get(f"/u/{answer_token}"), link_client.post("/u/x.y.z")]

    assert {r.status_code for r in refused} == {404}
    assert len({r.content for r in refused}) == 1
    assert suppressions(session) == []


def test_an_email_already_queued_is_not_sent_after_unsubscribing(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    item = survey(runtime, email="cara@example.com")

    link_client.post(item.unsubscribe_path, data={"List-Unsubscribe": "One-Click"})
    send(runtime, item)

    session.expire_all()
    message = session.get(Message, item.message_id)
    assert message is not None
    assert (message.state, message.skip_rule) == ("skipped", "suppressed")
    expand_outbox(runtime.settings.outbox_dir)
    assert not list(Path(runtime.settings.outbox_dir).glob("*.eml"))


def test_the_emails_own_headers_and_footer_unsubscribe(runtime: Runtime, session: Session, link_client: TestClient) -> None:
    assert runtime.settings.public_url.startswith("https://")  # one-click needs https
    item = survey(runtime, email="dan@example.com")
    send(runtime, item)
    email = sent_email(runtime, item)

    header_url = email["List-Unsubscribe"].strip("<>")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert item.unsubscribe_url in html and header_url == item.unsubscribe_url

    assert link_client.post(urlsplit(header_url).path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert suppressions(session) == [("email", "dan@example.com", "unsubscribed")]


def test_unsubscribe_links_live_as_long_as_the_setting_says(runtime: Runtime) -> None:
    from datetime import timedelta

    import pytest

    from campaigns.programs.models import Episode
    from dispatcher.answers.tokens import BadToken, read_token
    from dispatcher.sending.contents import answer_url, unsubscribe_url

    settings = runtime.settings.model_copy(update={"link_ttl_days": 60, "unsubscribe_ttl_days": 400})
    episode = Episode(public_id="ep-ttl")
    now = runtime.clock.now()
    secret = settings.secret_key.get_secret_value()
    unsubscribe = unsubscribe_url(settings, episode, now).rsplit("/", 1)[1]
    answer = answer_url(settings, episode, now).rsplit("/", 1)[1]
    assert read_token(secret, unsubscribe, purpose="unsubscribe", now=now + timedelta(days=399)) == "ep-ttl"
    with pytest.raises(BadToken):
        read_token(secret, unsubscribe, purpose="unsubscribe", now=now + timedelta(days=401))
    with pytest.raises(BadToken):
        read_token(secret, answer, purpose="answer", now=now + timedelta(days=61))
