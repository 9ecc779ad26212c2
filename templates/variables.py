"""The variables panel: what a step's template may use, with a description and a sample value.

Descriptions are the comments written next to each field of the context
dataclasses (``templates.context``), so they are written once.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from datetime import date
from functools import cache
from typing import Any

from templates.context import Scale, as_mapping, context_type
from templates.keys import TemplateKey, resolve_language
from templates.recipient import RECIPIENT_FIELDS
from templates.samples import sample_context

_FIELD_COMMENT = re.compile(r"^\s+(\w+): [^#\n]+#\s*(.+)$", re.MULTILINE)
_RECIPIENT = {
    "first_name": "the contact's first name (may be empty)",
    "name": "the contact's full name (may be empty)",
    "answer_url": "the contact's own survey link (add ?score=N to preselect a score)",
    "unsubscribe_url": "one click unsubscribes the contact from survey email",
    "greeting": "\"Hi Ana,\" or \"Hi there,\" in the contact's language",
}
_PLAIN = {
    "company_name": "your company, as set for this locale",
    "campaign_name": "the campaign's name",
    "kind": "nps, csat or ces",
    "question": "the survey question in the contact's language",
    "scale": "scale.min, scale.max, scale.points, scale.low_label, scale.high_label",
    "sender_name": "who signs, as set for this locale",
    "lang": "the shipped language used (en or de), for the partials",
}


@cache
def _comments(cls: type) -> dict[str, str]:
    return dict(_FIELD_COMMENT.findall(inspect.getsource(cls)))


def _sample(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Scale):
        return f"{value.min}–{value.max} ({value.low_label} … {value.high_label})"
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "…"


def step_variables(key: TemplateKey) -> list[dict[str, str]]:
    """[{name, description, sample}] for ``key``'s step, recipient fields as ``recipient.x``."""
    cls = context_type(key.step)
    # Passed as a plain type: mypy finds no __hash__ on a union of dataclass types (each is hashable).
    documented: type = cls
    comments = _comments(documented)
    sample = as_mapping(sample_context(key, placeholders=False))
    out: list[dict[str, str]] = []
    for f in fields(cls):
        if f.name == "recipient":
            out += [
                {"name": f"recipient.{name}", "description": _RECIPIENT[name], "sample": _sample(sample["recipient"][name])}
                for name in RECIPIENT_FIELDS
            ]
            continue
        description = comments.get(f.name) or _PLAIN.get(f.name, "")
        out.append({"name": f.name, "description": description, "sample": _sample(sample[f.name])})
    out.append({"name": "lang", "description": _PLAIN["lang"], "sample": resolve_language(key.locale)})
    return out
