"""Check an edited template before it is published (the template editor's gate)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from jinja2 import TemplateError, TemplateSyntaxError, meta, nodes

from templates.context import as_mapping, context_names
from templates.environment import compile_source, sandbox
from templates.keys import CHANNEL_PARTS, PARTS, TemplateKey, resolve_language
from templates.limits import render_limited
from templates.samples import sample_context
from templates.sources import logical_name


def validate_source(
    part_sources: Mapping[str, str], *, key: TemplateKey | None = None
) -> list[str]:
    """Errors that should stop an edit being published; an empty list when it is fine.

    Reports unknown part names, syntax errors (with the line) and names that
    are not in the documented context. With ``key`` it checks against that
    step's context and also renders every part once with a sample context, which
    catches misspelt attributes (``recipient.frist_name``), sandbox violations
    and bad filter arguments. Never raises for a bad template.
    """
    env = sandbox()
    allowed_parts = CHANNEL_PARTS[key.channel] if key else PARTS
    allowed_names = context_names(key.step if key else None) | set(env.globals)
    errors: list[str] = []
    for part, source in part_sources.items():
        if part not in allowed_parts:
            errors.append(
                f"{part}: not a part of this template (expected {', '.join(allowed_parts)})"
            )
            continue
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as exc:
            errors.append(f"{part}: line {exc.lineno}: {exc.message}")
            continue
        undeclared = meta.find_undeclared_variables(tree) - declared_names(tree)
        for name in sorted(undeclared - allowed_names):
            errors.append(f"{part}: '{name}' is not available in this template")
    if errors or key is None:
        return errors
    context = as_mapping(sample_context(key))
    context["lang"] = resolve_language(key.locale)
    for part, source in part_sources.items():
        try:
            render_limited(compile_source(logical_name(key, part), source), context)
        except TemplateError as exc:
            errors.append(f"{part}: {exc.message or type(exc).__name__}")
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            # A filter given the wrong thing: the editor needs the words, not a 500.
            errors.append(f"{part}: {type(exc).__name__}: {exc}")
    return errors


def declared_names(tree: nodes.Template) -> set[str]:
    """Names the template defines itself (imports, macros, sets, loops) anywhere.

    Jinja's own analysis treats each block as a scope of its own, so a macro
    imported at the top of a child template looks undeclared inside its blocks.
    """
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    names |= {m.name for m in tree.find_all(nodes.Macro)}
    names |= {i.target for i in tree.find_all(nodes.Import)}
    for imported in tree.find_all(nodes.FromImport):
        names |= {n if isinstance(n, str) else n[1] for n in imported.names}
    return names


@lru_cache(maxsize=512)
def names_read(source: str) -> frozenset[str] | None:
    """The context names a template source reads; None when that cannot be told from the
    source alone (it extends, includes or imports another template, or does not parse)."""
    try:
        tree = sandbox().parse(source)
    except TemplateSyntaxError:
        return None
    if any(True for _ in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport))):
        return None
    return frozenset(meta.find_undeclared_variables(tree) - declared_names(tree))
