"""The shipped default templates on disk, and how a key finds its files.

Layout: ``defaults/<channel>/<kind>/<step>.<lang>.<part>`` for what differs by
survey kind (the thank-yous), ``defaults/<channel>/common/<step>.<lang>.<part>``
for what the scale and question in the context make kind-neutral, and
``defaults/<channel>/_*.…`` for layouts and partials (not keys of their own).
A kind's own file wins over ``common``.
"""

from __future__ import annotations

from functools import cache

from templates.environment import DEFAULTS_DIR
from templates.keys import KINDS, TemplateKey

COMMON = "common"


@cache
def _index() -> frozenset[str]:
    """Every default file as a posix path relative to ``defaults/``."""
    return frozenset(
        p.relative_to(DEFAULTS_DIR).as_posix() for p in DEFAULTS_DIR.rglob("*") if p.is_file()
    )


def default_name(key: TemplateKey, part: str, language: str) -> str | None:
    """The file holding ``part`` of ``key`` in ``language``, or None."""
    for folder in (key.kind, COMMON):
        name = f"{key.channel}/{folder}/{key.step}.{language}.{part}"
        if name in _index():
            return name
    return None


def logical_name(key: TemplateKey, part: str) -> str:
    """The name an edited source is compiled under; its suffix decides escaping."""
    return f"{key.channel}/{key.kind}/{key.step}.{key.locale}.{part}"


@cache  # shipped files: read once per process
def read_default(name: str) -> str:
    return (DEFAULTS_DIR / name).read_text(encoding="utf-8")


def default_keys() -> list[TemplateKey]:
    """Every (channel, kind, step, language) that has a default, sorted."""
    keys: set[TemplateKey] = set()
    for name in _index():
        parts = name.split("/")
        if len(parts) != 3 or parts[2].startswith("_"):
            continue  # a layout or partial
        channel, folder, filename = parts
        step, language, _part = filename.split(".")
        for kind in KINDS if folder == COMMON else (folder,):
            keys.add(TemplateKey(channel, kind, step, language))
    return sorted(keys)
