"""Templates run in a sandbox: no Python internals, no secrets, no files, no unknown names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import StrictUndefined, TemplateNotFound, TemplateRuntimeError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from templates import TemplateKey, TemplateRenderer, sample_context
from templates.environment import sandbox

KEY = TemplateKey("email", "nps", "invite", "en")


def render_edit(part: str, source: str) -> None:
    """Render ``source`` as a published edit of one part of the NPS invite."""
    renderer = TemplateRenderer(overrides=lambda key: {part: source})
    renderer.render(KEY, sample_context(KEY))


def test_the_one_environment_is_a_strict_autoescaping_sandbox() -> None:
    env = sandbox()
    assert isinstance(env, SandboxedEnvironment)
    assert env.undefined is StrictUndefined
    assert callable(env.autoescape)
    assert env.autoescape("email/common/invite.en.html") is True
    assert env.autoescape("email/common/invite.en.txt") is False


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ '{0.__class__.__base__}'.format(1) }}",
        "{{ recipient.__class__ }}",
        "{{ scale.__dict__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ deadline.__reduce__() }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ],
)
@pytest.mark.parametrize("part", ["txt", "html", "subject"])
def test_reaching_for_python_internals_raises_a_security_error(part: str, source: str) -> None:
    with pytest.raises(SecurityError):
        render_edit(part, source)


def test_templates_cannot_mutate_what_they_are_given() -> None:
    with pytest.raises(SecurityError):
        render_edit("txt", "{% set x = scale.points %}{{ [1].append(2) }}")


@pytest.mark.parametrize("name", ["settings", "config", "environ", "os", "secret_key", "request"])
def test_settings_and_secrets_are_not_in_reach(name: str) -> None:
    with pytest.raises(UndefinedError):
        render_edit("txt", "{{ " + name + " }}")


@pytest.mark.parametrize(
    "path", ["../../dispatcher/runtime/settings.py", "/etc/passwd", "../environment.py"]
)
def test_includes_cannot_leave_the_defaults_folder(path: str) -> None:
    with pytest.raises(TemplateNotFound):
        render_edit("txt", '{% include "' + path + '" %}')


def test_a_huge_range_is_refused() -> None:
    with pytest.raises(OverflowError):
        render_edit("txt", "{% for i in range(10**9) %}{% endfor %}")


def test_an_unknown_name_fails_the_render_instead_of_printing_nothing() -> None:
    with pytest.raises(UndefinedError):
        render_edit("txt", "Hi {{ recipient.frist_name }}")


def test_printing_a_none_fails_the_render_instead_of_saying_none() -> None:
    renderer = TemplateRenderer(overrides=lambda key: {"txt": "Call {{ owner_name }}"})
    context = {**vars(sample_context(KEY)), "owner_name": None}

    with pytest.raises(TemplateRuntimeError, match="None"):
        renderer.render(KEY, context)


def test_no_module_builds_a_jinja_environment_or_template_of_its_own() -> None:
    package = Path(__file__).parents[2] / "templates"
    for module in package.glob("*.py"):
        source = module.read_text()
        assert not re.search(r"\bTemplate\(|from_string\(", source), module.name
        if module.name != "environment.py":
            assert "Environment(" not in source, module.name
