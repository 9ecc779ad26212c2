"""The editor's gate: a bad edit is refused with a sentence saying why."""

from __future__ import annotations

from templates import TemplateKey, TemplateRenderer, validate_source

INVITE = TemplateKey("email", "nps", "invite", "en")


def test_a_clean_edit_has_no_errors() -> None:
    sources = {"subject": "{{ company_name }}: {{ question }}", "txt": "{{ recipient.greeting }}"}

    assert validate_source(sources, key=INVITE) == []
    assert validate_source(sources) == []


def test_a_syntax_error_is_reported_with_its_part_and_line() -> None:
    errors = validate_source({"txt": "Hello\n{% if final_reminder %}Last chance"})

    assert len(errors) == 1
    assert errors[0].startswith("txt: line 2:")
    assert "endif" in errors[0]


def test_an_undefined_name_is_reported() -> None:
    errors = validate_source({"html": "<p>{{ secret_key }} {{ company_name }}</p>"})

    assert errors == ["html: 'secret_key' is not available in this template"]


def test_a_name_from_another_steps_context_is_reported_for_a_given_key() -> None:
    # The summary's response_rate means nothing in an invite.
    errors = validate_source({"txt": "{{ response_rate }}"}, key=INVITE)

    assert errors == ["txt: 'response_rate' is not available in this template"]


def test_a_misspelt_attribute_is_caught_by_the_trial_render() -> None:
    errors = validate_source({"txt": "Hi {{ recipient.frist_name }}"}, key=INVITE)

    assert len(errors) == 1 and "frist_name" in errors[0]


def test_a_sandbox_violation_is_an_error_not_an_exception() -> None:
    errors = validate_source({"txt": "{{ ''.__class__.__mro__ }}"}, key=INVITE)

    assert len(errors) == 1 and "unsafe" in errors[0]


def test_a_part_the_channel_does_not_have_is_reported() -> None:
    errors = validate_source({"html": "<p>hi</p>"}, key=TemplateKey("sms", "nps", "invite", "en"))

    assert errors == ["html: not a part of this template (expected txt)"]


def test_the_renderer_offers_the_same_check() -> None:
    assert TemplateRenderer().validate_source({"txt": "{{ nope }}"}) == [
        "txt: 'nope' is not available in this template"
    ]
