"""Contact-supplied text is escaped per part: HTML escaped in HTML, raw in text; no raw token on a page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from channels.base import OutgoingMessage
from channels.sendgrid import SendGridChannel, SendGridConfig
from dispatcher.runtime.core import Runtime
from templates import recipient_substitutions
from tests.answers.fixtures_links import send, sent_email, survey

HOSTILE = '<img src=x onerror="alert(1)">'
QUESTION = "-pulse_name-, how likely are you to recommend us?"


def test_a_question_quoting_the_name_escapes_a_hostile_name_in_the_html_part(runtime: Runtime) -> None:
    item = survey(runtime, question=QUESTION, name=HOSTILE)
    send(runtime, item)
    email = sent_email(runtime, item)
    html = email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert HOSTILE not in html and "&lt;img src=x" in html
    assert HOSTILE in text  # the text part is not HTML: the name as written
    assert "-pulse_" not in html and "-pulse_" not in text


def test_sendgrid_substitutions_never_put_a_raw_value_into_html() -> None:
    channel = SendGridChannel(SendGridConfig(api_key="SG.unused", base_url="http://127.0.0.1:9", from_email="s@pulse.example", from_name="Pulse", timeout=1.0))
    message = OutgoingMessage(
        message_id="1", channel="email", to="ana@example.com", subject="For -pulse_name-",
        text="Hi -pulse_name-", html="<p>-pulse_name- and -pulse_name_html-</p>",
        substitutions=recipient_substitutions({"name": HOSTILE}),
    )
    body = channel.build_requests([message])[0].body
    html = next(c["value"] for c in body["content"] if c["type"] == "text/html")
    text = next(c["value"] for c in body["content"] if c["type"] == "text/plain")
    assert "-pulse_name-" not in html and html.count("-pulse_name_html-") == 2
    assert text == "Hi -pulse_name-"
    assert body["personalizations"][0]["substitutions"]["-pulse_name_html-"].startswith("&lt;img")


def test_the_answer_page_shows_the_name_not_the_token(runtime: Runtime, link_client: TestClient) -> None:
    item = survey(runtime, question=QUESTION, name=HOSTILE)
    page = link_client.get(item.answer_url.replace(runtime.settings.public_url, ""))
    assert page.status_code == 200
    assert "-pulse_" not in page.text
    assert HOSTILE not in page.text and "&lt;img src=x" in page.text
