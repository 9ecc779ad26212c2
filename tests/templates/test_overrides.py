"""Published edits from the database are laid over the default files."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from templates import TemplateKey, TemplateMissing, TemplateRenderer, sample_context

INVITE = TemplateKey("email", "nps", "invite", "en")


def edits(table: dict[TemplateKey, Mapping[str, str]]):
    asked: list[TemplateKey] = []

    def lookup(key: TemplateKey) -> Mapping[str, str] | None:
        asked.append(key)
        return table.get(key)

    return lookup, asked


def test_an_edit_replaces_the_default_part_it_names_and_keeps_the_others() -> None:
    lookup, _ = edits({INVITE: {"subject": "{{ company_name }} wants to know"}})
    renderer = TemplateRenderer(overrides=lookup)

    message = renderer.render(INVITE, sample_context(INVITE))
    default = TemplateRenderer().render(INVITE, sample_context(INVITE))

    assert message.subject == "Acme Analytics wants to know"
    assert (message.text, message.html) == (default.text, default.html)


def test_source_shows_the_edit_over_the_default() -> None:
    lookup, _ = edits({INVITE: {"txt": "Edited {{ question }}"}})
    sources = TemplateRenderer(overrides=lookup).source(INVITE)

    assert sources["txt"] == "Edited {{ question }}"
    assert sources["subject"].startswith("One quick question from")
    assert sources["html"].startswith('{% extends "email/_layout.html" %}')


def test_an_edited_html_part_is_escaped_like_a_default_one() -> None:
    lookup, _ = edits({INVITE: {"html": "<b>{{ company_name }}</b>"}})
    context = {**vars(sample_context(INVITE)), "company_name": "<i>Acme</i>"}

    html = TemplateRenderer(overrides=lookup).render(INVITE, context).html

    assert html == "<b>&lt;i&gt;Acme&lt;/i&gt;</b>"


def test_an_edited_html_part_can_extend_the_shipped_layout() -> None:
    source = '{% extends "email/_layout.html" %}{% block body %}<p>Short.</p>{% endblock %}'
    lookup, _ = edits({INVITE: {"html": source}})

    html = TemplateRenderer(overrides=lookup).render(INVITE, sample_context(INVITE)).html or ""

    assert "<p>Short.</p>" in html and "Unsubscribe" in html


def test_the_most_specific_locale_wins_and_an_edit_beats_a_file_of_its_locale() -> None:
    at = INVITE.with_locale("de-AT")
    lookup, asked = edits(
        {
            at: {"subject": "Grüß Gott von {{ company_name }}"},
            INVITE.with_locale("de"): {"subject": "Hallo von {{ company_name }}", "txt": "de edit"},
        }
    )
    message = TemplateRenderer(overrides=lookup).render(at, sample_context(at))

    assert message.subject == "Grüß Gott von Acme Analytics"
    assert message.text == "de edit"
    assert "Klicken Sie auf eine Zahl" in (message.html or "")  # the German file
    assert asked == [at, INVITE.with_locale("de")]  # once per locale, not once per part


def test_an_edit_can_add_a_language_that_ships_no_files() -> None:
    fr = INVITE.with_locale("fr")
    lookup, _ = edits({fr: {"subject": "Une question de {{ company_name }}"}})

    message = TemplateRenderer(overrides=lookup).render(fr, sample_context(INVITE))

    assert message.subject == "Une question de Acme Analytics"
    assert message.text.startswith("-pulse_greeting-\n\nHow likely")  # the rest: English files


def test_a_key_with_no_edit_and_no_file_is_reported() -> None:
    with pytest.raises(TemplateMissing, match="in_app/nps/summary"):
        TemplateRenderer().render(TemplateKey("in_app", "nps", "summary", "en"), {})
