"""The one sandboxed Jinja2 environment every Pulse message renders through.

Immutable sandbox (templates cannot reach Python internals nor mutate what
they are given), ``StrictUndefined`` (a misspelt name fails the render instead
of leaving a hole in a customer's inbox), autoescape for ``.html`` only, and a
loader that can read nothing but the shipped defaults. Published edits from
the database are compiled into this same environment by ``compile_source``
under their logical name, so the name decides escaping for them as well.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path
from types import CodeType
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateRuntimeError,
    TemplateSyntaxError,
    nodes,
    pass_context,
)
from jinja2.ext import Extension
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from templates.filters import FILTERS, slack_escape
from templates.limits import GuardedNamespace, check_binop, check_call, guard_filter

DEFAULTS_DIR = Path(__file__).parent / "defaults"
# Levels of a parsed template (the shipped defaults use 9). Jinja's parser and code
# generator recurse once or more per level and run out of stack near a hundred.
MAX_NESTING = 40
TOO_DEEP = f"the text nests blocks, brackets or filters more than {MAX_NESTING} levels deep"


_TAG = re.compile(r"\{%.*?%\}")
_LINE_END_TAG = re.compile(r"(?<![-+])%\}(\s*)$")


class InlineTagNewlines(Extension):
    """A block tag alone on its line vanishes with the line (``trim_blocks``), but a
    line of text that merely ends in a tag keeps its line break.

    Plain ``trim_blocks`` would join ``Account: {{ a }}{% if t %} ({{ t }}){% endif %}``
    with the next line, which surprises everyone who edits a text template; the
    ``+%}`` Jinja offers for it is not something a marketer should need to know.
    """

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        lines = source.split("\n")
        for i, line in enumerate(lines):
            if _LINE_END_TAG.search(line) and _TAG.sub("", line).strip():
                lines[i] = _LINE_END_TAG.sub(r"+%}\1", line)
        return "\n".join(lines)


def _autoescape(name: str | None) -> bool:
    return bool(name) and str(name).endswith(".html")


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    # A printed None is always a template bug ("Hi None,"): guard it with {% if %}.
    if value is None:
        raise TemplateRuntimeError(
            f"{context.name or 'template'}: printed a value that is None; guard it with {{% if %}}"
        )
    # Slack webhooks read mrkdwn, where a customer's "<" or "&" would start a link or entity.
    if context.name and context.name.endswith(".mrkdwn"):
        return slack_escape(value)
    return value


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus size checks on operators and calls (``templates.limits``)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Jinja's parse (for ``parse`` and ``compile``); a text nested too deeply is a syntax error
        like any other, not a RecursionError from the parser or, later, the code generator."""
        try:
            tree = super()._parse(source, name, filename)
        except RecursionError:
            raise TemplateSyntaxError(TOO_DEEP, 1, name, filename) from None
        if _depth(tree) > MAX_NESTING:
            raise TemplateSyntaxError(TOO_DEEP, 1, name, filename)
        return tree

    def _compile(self, source: str, filename: str) -> CodeType:
        """Python's compile of the generated code; its own limits (20 nested loops, 100
        indented ifs) are a syntax error of the template too."""
        try:
            return super()._compile(source, filename)
        except (SyntaxError, RecursionError) as exc:
            detail = exc.msg if isinstance(exc, SyntaxError) else "too many levels"
            raise TemplateSyntaxError(f"the text nests blocks too deeply to run ({detail})", 1) from None


def _depth(tree: nodes.Node) -> int:
    """The levels of a parsed template, counted without recursing."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in node.iter_child_nodes())
    return deepest


@cache
def sandbox() -> ImmutableSandboxedEnvironment:
    """The shared environment (built once, on first use)."""
    env = LimitedSandbox(
        loader=FileSystemLoader(DEFAULTS_DIR),
        undefined=StrictUndefined,
        autoescape=_autoescape,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # defaults ship with the code; edits come from the database
        extensions=[InlineTagNewlines],
    )
    env.filters.update(FILTERS)
    env.filters.update({name: guard_filter(name, f) for name, f in env.filters.items()})
    env.globals["namespace"] = GuardedNamespace
    return env


@lru_cache(maxsize=512)
def compile_source(name: str, source: str) -> Template:
    """A template from an edited source, named ``name`` (its suffix picks escaping).

    Cached by (name, source): a published edit is compiled once per process.
    Raises ``jinja2.TemplateSyntaxError``.
    """
    env = sandbox()
    code = env.compile(source, name=name)
    return env.template_class.from_code(env, code, env.make_globals(None))


def default_template(name: str) -> Template:
    """A shipped default by its path under ``defaults/``."""
    return sandbox().get_template(name)
