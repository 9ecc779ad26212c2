"""Template-injection payloads end cleanly: refused by the sandbox, or stopped by a limit.

The worker survives: after each payload the same thread renders a real message.
"""

from __future__ import annotations

import threading

import pytest
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SecurityError

from templates import TemplateKey, TemplateRenderer, sample_context
from templates.environment import compile_source
from templates.limits import RenderTimeout, RenderTooLarge, render_limited

KEY = TemplateKey("email", "nps", "invite", "en")

PAYLOADS = [
    # attribute walks to Python internals
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ recipient.__class__.__init__.__globals__ }}",
    "{{ self.__init__.__globals__.__builtins__ }}",
    # format-string tricks
    "{{ '{0.__class__.__mro__}'.format(scale) }}",
    "{{ '{0.__globals__}'.format(cycler.reset) }}",
    "{{ '%999999999d'|format(1) }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{0:{1}}'.format(1, 999999999) }}",
    # memory: one expression building a huge value
    "{{ 'x' * 10**9 }}",
    "{{ [0] * 10**9 }}",
    "{{ 9 ** 999999 }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ 'x'|center(10**9) }}",
    "{{ ('x' * 100000)|replace('x', 'y' * 100000) }}",
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    # huge ranges and output
    "{% for i in range(10**9) %}{% endfor %}",
    "{% for i in range(99999) %}{% for j in range(99999) %}xx{% endfor %}{% endfor %}",
    # recursive macros
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('x') }}",
]


def render_edit(source: str) -> None:
    TemplateRenderer(overrides=lambda key: {"txt": source}).render(KEY, sample_context(KEY))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_payload_is_refused_and_the_worker_carries_on(payload: str) -> None:
    with pytest.raises((SecurityError, OverflowError, RenderTooLarge)):
        render_edit(payload)
    assert TemplateRenderer().render(KEY, sample_context(KEY)).subject == "One quick question from Acme Analytics"


@pytest.mark.parametrize(
    "payload",
    [
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        "{% for c in 'x' * 99999 %}{% for d in 'y' * 99999 %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% for i in range(10) %}{{ f(n) if false }}{% endfor %}{% endmacro %}"
        "{% for i in range(99999) %}{% for j in range(99999) %}{{ f(1) }}{% endfor %}{% endfor %}",
    ],
)
def test_a_render_that_runs_too_long_is_stopped_by_the_time_limit(payload: str) -> None:
    template = compile_source("email/nps/invite.en.txt", payload)
    with pytest.raises(RenderTimeout):
        render_limited(template, {"lang": "en"}, seconds=0.3)
    # Nothing is left pending for this thread once the render has ended.
    assert sum(range(200_000)) == 19_999_900_000
    assert TemplateRenderer().render(KEY, sample_context(KEY)).text


def test_the_renderer_applies_the_time_limit_to_published_edits() -> None:
    with pytest.raises(RenderTimeout):
        render_edit("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}")


def test_a_timeout_in_one_thread_leaves_other_renders_alone() -> None:
    results: list[str] = []

    def steady() -> None:
        for _ in range(50):
            results.append(TemplateRenderer().render(KEY, sample_context(KEY)).subject or "")

    worker = threading.Thread(target=steady)
    worker.start()
    with pytest.raises(RenderTimeout):
        render_limited(compile_source("x.txt", "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"), {}, seconds=0.2)
    worker.join()
    assert results == ["One quick question from Acme Analytics"] * 50


def test_ordinary_arithmetic_and_formatting_still_work() -> None:
    source = "{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ '%05d' % 42 }} {{ '{:>6}'.format('x') }} {{ 'x'|center(5) }}|{{ 'a-b'|replace('-', '+') }}"
    assert render_limited(compile_source("x.txt", source), {}) == "ababab 1024 00042      x   x  |a+b"


@pytest.mark.parametrize(
    "payload",
    [
        "{{ " + "(" * 100 + "1" + ")" * 100 + " }}",  # the parser recurses per bracket
        "{{ " + "[" * 1000 + "]" * 1000 + " }}",
        "{% if true %}" * 1000 + "x" + "{% endif %}" * 1000,
        "{{ 'x'" + "|upper" * 5000 + " }}",  # parses; the code generator recurses per filter
        "{{ recipient" + ".x" * 5000 + " }}",
        "{% for i in [1] %}" * 25 + "x" + "{% endfor %}" * 25,  # Python compiles at most 20 nested loops
    ],
)
def test_a_text_nested_too_deeply_is_a_syntax_error_not_a_recursion_error(payload: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="nests blocks"):
        compile_source("email/nps/invite.en.txt", payload)
    assert render_limited(compile_source("x.txt", "{% if a %}{% for i in b %}{{ (i|upper) ~ (c.d.e|string) }}{% endfor %}{% endif %}"),
                          {"a": True, "b": ["x"], "c": {"d": {"e": 1}}}) == "X1"
