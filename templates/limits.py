"""Limits on one render, so that no template can hang or exhaust a worker.

The sandbox keeps templates away from Python internals; these keep them
within time and memory:

- a time limit per render, enforced by one watchdog thread per process that
  raises ``RenderTimeout`` inside a render that runs past its deadline (an
  empty ``{% for %}`` loop in compiled template code calls nothing we could
  hook, so the limit has to come from outside the loop);
- an output limit: a render is consumed chunk by chunk and stops past it;
- size checks where one expression could build a huge value in a single C
  call, which no time limit can interrupt: ``'x' * 10**9``, ``10 ** 10**9``,
  ``'%999999999d' % 1``, ``'x'.ljust(10**9)``, ``'{:>999999999}'.format(1)``,
  ``|center(10**9)``, ``|replace`` of every character by a long string, and a
  value doubled in a loop through ``namespace()``.
"""

from __future__ import annotations

import ctypes
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import Template
from jinja2.sandbox import SecurityError
from jinja2.utils import Namespace

RENDER_SECONDS = 2.0  # far above any real template (a few milliseconds)
MAX_OUTPUT = 1_000_000  # characters one part may render to; a big email is ~100 KB
MAX_VALUE = 200_000  # characters or items one expression may build
MAX_INT_BITS = 4096  # integers beyond ~1,200 digits are not a message's business
MAX_WIDTH = 1_000  # padding / width arguments of string methods and format specs


class RenderTimeout(Exception):
    """A render ran past its time limit and was stopped."""


class RenderTooLarge(SecurityError):
    """A render or one of its values grew past a size limit."""


class _Watchdog:
    """Deadlines of renders in progress, by thread; one daemon thread enforces them.

    The thread sleeps until the nearest deadline (without one, until a render starts),
    so a worker that renders now and then is not woken every few milliseconds.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._deadlines: dict[int, float] = {}
        self._fired: set[int] = set()
        self._thread: threading.Thread | None = None

    def enter(self, seconds: float) -> int:
        thread_id = threading.get_ident()
        with self._changed:
            self._deadlines[thread_id] = time.monotonic() + seconds
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pulse-render-watchdog", daemon=True)
                self._thread.start()
            self._changed.notify()  # it may be sleeping until a later deadline, or without one
        return thread_id

    def leave(self, thread_id: int) -> bool:
        """Stop watching; True when the watchdog fired for this render."""
        with self._changed:
            self._deadlines.pop(thread_id, None)
            fired = thread_id in self._fired
            if fired:
                self._fired.discard(thread_id)
                # A timeout not yet raised must not surface later, outside the render.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
        return fired

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for thread_id, deadline in list(self._deadlines.items()):
                    if deadline <= now:
                        # Once per render: the entry goes, so the exception is raised once.
                        del self._deadlines[thread_id]
                        self._fired.add(thread_id)
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(thread_id), ctypes.py_object(RenderTimeout)
                        )
                nearest = min(self._deadlines.values(), default=None)
                # A render that ends early leaves its deadline behind: waking then finds nothing to do.
                self._changed.wait(None if nearest is None else nearest - now)


_watchdog = _Watchdog()


def render_limited(
    template: Template, values: Mapping[str, Any], *, seconds: float = RENDER_SECONDS,
    max_output: int = MAX_OUTPUT,
) -> str:
    """``template`` rendered with ``values`` within ``seconds`` and ``max_output`` characters.

    Raises ``RenderTimeout`` or ``RenderTooLarge`` (and whatever the template
    raises itself); the worker carries on either way.
    """
    thread_id = _watchdog.enter(seconds)
    fired = False
    try:
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(values):
            size += len(chunk)
            if size > max_output:
                raise RenderTooLarge(f"the text is longer than {max_output:,} characters")
            chunks.append(chunk)
        return "".join(chunks)
    except RecursionError:
        raise RenderTooLarge("macros call themselves too deeply") from None
    finally:
        fired = _watchdog.leave(thread_id)
        if fired:
            raise RenderTimeout(f"the template took longer than {seconds:g} s to render")


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple)) else None


def _too_big(what: str) -> RenderTooLarge:
    return RenderTooLarge(f"{what} would be too large")


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Raise ``RenderTooLarge`` when ``left <operator> right`` would build a huge value."""
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            length = _length(seq)
            if length is not None and isinstance(times, int) and length * times > MAX_VALUE:
                raise _too_big("the repeated text")
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _too_big("the number")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right * left.bit_length() > MAX_INT_BITS:
            raise _too_big("the number")
    elif operator == "+":
        a, b = _length(left), _length(right)
        if a is not None and b is not None and a + b > MAX_VALUE:
            raise _too_big("the joined text")
    elif operator == "%" and isinstance(left, str):
        check_format_spec(left)


_PERCENT_WIDTH = re.compile(r"%[-+ #0]*(\d+|\*)?(?:\.(\d+|\*))?[a-zA-Z%]")
_NESTED_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")
_BRACE_WIDTH = re.compile(r"\{[^{}]*:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")


def check_format_spec(text: str) -> None:
    """Refuse ``%`` and ``{}`` format specs that pad to more than ``MAX_WIDTH``."""
    for match in _PERCENT_WIDTH.finditer(text):
        for group in match.groups():
            if group == "*" or (group and int(group) > MAX_WIDTH):
                raise _too_big("the formatted text")
    if _NESTED_SPEC.search(text):
        raise _too_big("the formatted text")  # '{0:{1}}': a width taken from the arguments
    for match in _BRACE_WIDTH.finditer(text):
        for group in match.groups():
            if group and int(group) > MAX_WIDTH:
                raise _too_big("the formatted text")


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def check_call(callee: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse calls of string methods that would pad, format or replace into a huge value."""
    if any((_length(v) or 0) > MAX_VALUE for v in (*args, *kwargs.values())):
        raise _too_big("an argument")  # e.g. a macro that calls itself with its text doubled
    callee = getattr(callee, "__wrapped__", callee)  # the sandbox wraps str.format
    owner = getattr(callee, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(callee, "__name__", "")
    values = (*args, *kwargs.values())
    if name in _WIDTH_METHODS and any(isinstance(v, int) and v > MAX_WIDTH for v in values):
        raise _too_big(f"the {name}() result")
    if name in ("format", "format_map"):
        check_format_spec(owner)
    if name == "replace" and len(args) >= 2:
        check_replace(owner, args[0], args[1])


def check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        grows = (text.count(old) if old else len(text) + 1) * max(len(new) - len(old), 0)
        if len(text) + grows > MAX_VALUE:
            raise _too_big("the replaced text")


def guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a Jinja filter) with the size checks its arguments need."""
    if name in ("center", "indent"):
        def checked(*args: Any, **kwargs: Any) -> Any:
            if any(isinstance(v, int) and v > MAX_WIDTH for v in (*args[1:], *kwargs.values())):
                raise _too_big(f"the {name} result")
            return function(*args, **kwargs)
    elif name == "format":
        def checked(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], str):
                check_format_spec(args[0])
            return function(*args, **kwargs)
    elif name == "replace":
        def checked(*args: Any, **kwargs: Any) -> Any:
            values = [a for a in args if isinstance(a, str)]
            if len(values) >= 3:
                check_replace(*values[-3:])
            return function(*args, **kwargs)
    else:
        return function
    for attribute in ("jinja_pass_arg",):  # keep @pass_eval_context & co. working
        if hasattr(function, attribute):
            setattr(checked, attribute, getattr(function, attribute))
    return checked


class GuardedNamespace(Namespace):
    """``namespace()`` for templates: an attribute set in a loop cannot grow without bound."""

    def __setitem__(self, name: str, value: Any) -> None:
        length = _length(value)
        if length is not None and length > MAX_VALUE:
            raise _too_big(f"namespace value {name!r}")
        super().__setitem__(name, value)
