"""Emails: the scale as buttons, a plain-text twin with the same links, escaping, footer."""

from __future__ import annotations

import dataclasses
import re

import pytest

from templates import TemplateKey, TemplateRenderer, sample_context
from tests.templates.helpers import html_links, score_links

RENDERER = TemplateRenderer()
ANSWER_URL = "https://pulse.example.com/r/eyJlcCI6MTIzfQ"
SCALES = {"nps": range(11), "csat": range(1, 6), "ces": range(1, 8)}


def _render(kind: str, step: str, locale: str = "en", **changes: object):
    key = TemplateKey("email", kind, step, locale)
    context = sample_context(key, placeholders=False)
    return RENDERER.render(key, dataclasses.replace(context, **changes) if changes else context)


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("step", ["invite", "reminder"])
@pytest.mark.parametrize("kind", ["nps", "csat", "ces"])
def test_email_has_one_button_per_scale_value_with_its_score(
    kind: str, step: str, locale: str
) -> None:
    message = _render(kind, step, locale)

    links = html_links(message.html or "")
    buttons = [(href, text) for href, text in links if "?score=" in href]
    assert score_links([href for href, _ in buttons], ANSWER_URL) == list(SCALES[kind])
    assert all(text == href.rsplit("=", 1)[1] for href, text in buttons)  # label = its score


@pytest.mark.parametrize("kind", ["nps", "csat", "ces"])
def test_plain_text_part_carries_the_same_score_links(kind: str) -> None:
    message = _render(kind, "invite")

    links = re.findall(r"https://\S+", message.text)
    assert score_links(links, ANSWER_URL) == list(SCALES[kind])


def test_nps_email_labels_both_ends_of_the_scale() -> None:
    english, german = _render("nps", "invite"), _render("nps", "invite", "de")

    assert "Not at all likely" in (english.html or "") and "Extremely likely" in (
        english.html or ""
    )
    assert "Überhaupt nicht wahrscheinlich" in (german.html or "")
    assert "Äußerst wahrscheinlich" in german.text


def test_invite_states_the_deadline_in_both_parts() -> None:
    english, german = _render("nps", "invite"), _render("nps", "invite", "de")

    assert "Friday, August 14" in english.text and "Friday, August 14" in (english.html or "")
    assert "Freitag, 14. August" in german.text and "Freitag, 14. August" in (german.html or "")


@pytest.mark.parametrize("step", ["pre_notice", "invite", "reminder", "thank_you_promoter"])
def test_customer_emails_end_with_an_unsubscribe_link(step: str) -> None:
    message = _render("nps", step)

    assert ("https://pulse.example.com/u/eyJlcCI6MTIzfQ", "Unsubscribe") in html_links(
        message.html or ""
    )
    assert message.text.endswith(
        "Unsubscribe from survey emails: https://pulse.example.com/u/eyJlcCI6MTIzfQ"
    )


def test_internal_emails_have_no_unsubscribe_footer() -> None:
    message = _render("nps", "summary")

    assert "nsubscribe" not in (message.html or "") + message.text


def test_final_reminder_says_it_is_the_last_chance() -> None:
    first = _render("nps", "reminder", final_reminder=False)
    final = _render("nps", "reminder", final_reminder=True)

    assert (first.subject or "").startswith("Reminder:")
    assert (final.subject or "").startswith("Last chance:")
    assert "closes on Friday, August 14" in final.text


def test_a_comment_is_escaped_in_html_and_left_alone_in_text() -> None:
    comment = '<script>alert("x")</script> & more'
    message = _render("nps", "detractor_alert", comment=comment)

    assert "<script>" not in (message.html or "")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in (message.html or "")
    assert comment in message.text


def test_company_name_is_escaped_in_html_only() -> None:
    message = _render("csat", "invite", company_name="Smith & <Sons>")

    assert "Smith &amp; &lt;Sons&gt;" in (message.html or "")
    assert "Smith & <Sons>" in message.text
    assert message.subject == "One quick question from Smith & <Sons>"


def test_you_said_we_did_text_becomes_escaped_paragraphs() -> None:
    text = "Exports <b>now</b> take seconds.\n\nGerman UI is live."
    message = _render("nps", "you_said_we_did", you_said_we_did_text=text)

    html = message.html or ""
    assert '<p style="margin:0 0 16px;">Exports &lt;b&gt;now&lt;/b&gt; take seconds.</p>' in html
    assert '<p style="margin:0 0 16px;">German UI is live.</p>' in html
    assert "Exports <b>now</b> take seconds.\n\nGerman UI is live." in message.text


def test_promoter_thank_you_offers_the_review_link_only_when_there_is_one() -> None:
    review = "https://www.g2.com/products/acme-analytics/reviews"
    with_link = _render("nps", "thank_you_promoter")
    without = _render("nps", "thank_you_promoter", review_link=None)

    assert (review, "Write a short review") in html_links(with_link.html or "")
    assert review in with_link.text
    assert "review" not in without.text.lower()


def test_detractor_thank_you_names_the_owner_or_the_team() -> None:
    named = _render("nps", "thank_you_detractor")
    unnamed = _render("nps", "thank_you_detractor", owner_name=None)

    assert "Dana Smith will contact you personally" in named.text
    assert "Someone from our team will contact you personally" in unnamed.text
