"""The fatigue policy: its rules, the defaults from DESIGN.md, and the checks a new version must pass.

A policy is a list of window rules ("at most N of these touches within D
days, per contact or per account"), a minimum gap between any two
invitations of one contact, and per survey kind a priority and what happens
when the budget is full. ``check_policy`` turns a document (the API's JSON)
into a ``Policy`` or raises ``FieldError`` naming the field; the stored
document is the normalised one, so every rule has its stable name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from campaigns.people.fields import FieldError

KINDS = ("nps", "ces", "csat")
COUNTS = ("invitations", "messages")
SCOPES = ("contact", "account")
ACTIONS = ("defer", "drop")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}$")

DEFAULT_DOCUMENT: dict[str, Any] = {
    "rules": [
        {"name": "nps_once_per_180d", "kinds": ["nps"], "counts": "invitations", "limit": 1, "window_days": 180, "scope": "contact"},
        {"name": "ces_once_per_30d", "kinds": ["ces"], "counts": "invitations", "limit": 1, "window_days": 30, "scope": "contact"},
        {"name": "csat_once_per_7d", "kinds": ["csat"], "counts": "invitations", "limit": 1, "window_days": 7, "scope": "contact"},
        {"name": "invitations_2_per_30d", "kinds": "all", "counts": "invitations", "limit": 2, "window_days": 30, "scope": "contact"},
        {"name": "messages_4_per_7d", "kinds": "all", "counts": "messages", "limit": 4, "window_days": 7, "scope": "contact"},
    ],
    "min_gap_days": 3,
    # Relationship NPS waits for its next cycle; a transactional CES or CSAT is
    # still worth asking a few days late, but not weeks late.
    "kinds": {
        "nps": {"priority": 3, "when_full": "drop", "max_defer_days": 14},
        "ces": {"priority": 2, "when_full": "defer", "max_defer_days": 14},
        "csat": {"priority": 1, "when_full": "defer", "max_defer_days": 7},
    },
}


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` counted touches in any ``window_days``-long period, per ``scope``."""

    name: str
    kinds: frozenset[str]
    counts: str  # invitations, or messages of any step
    limit: int
    window_days: int
    scope: str  # contact or account

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    def counts_touch(self, kind: str, invitation: bool) -> bool:
        return kind in self.kinds and (self.counts == "messages" or invitation)


@dataclass(frozen=True)
class KindSettings:
    priority: int  # higher may take the slot of a lower one not yet announced (campaigns.fatigue.priority)
    when_full: str  # defer or drop
    max_defer_days: int  # a deferred send further out than this is dropped


@dataclass(frozen=True)
class Policy:
    version: int  # 0: the built-in defaults
    rules: tuple[Rule, ...]
    min_gap_days: int
    kinds: Mapping[str, KindSettings]

    @property
    def gap_rule(self) -> str:
        return f"min_gap_{self.min_gap_days}d"

    @property
    def min_gap(self) -> timedelta:
        return timedelta(days=self.min_gap_days)

    @property
    def longest_window(self) -> timedelta:
        return max([r.window for r in self.rules] + [self.min_gap], default=timedelta(0))

    @property
    def longest_deferral(self) -> timedelta:
        return timedelta(days=max(k.max_defer_days for k in self.kinds.values()))

    @property
    def has_account_rules(self) -> bool:
        return any(r.scope == "account" for r in self.rules)

    def document(self) -> dict[str, Any]:
        return {
            "rules": [
                {"name": r.name, "kinds": "all" if r.kinds == frozenset(KINDS) else sorted(r.kinds, key=KINDS.index),
                 "counts": r.counts, "limit": r.limit, "window_days": r.window_days, "scope": r.scope}
                for r in self.rules
            ],
            "min_gap_days": self.min_gap_days,
            "kinds": {k: {"priority": s.priority, "when_full": s.when_full, "max_defer_days": s.max_defer_days} for k, s in self.kinds.items()},
        }


def rule_name(kinds: frozenset[str], counts: str, limit: int, window_days: int, scope: str) -> str:
    """The stable name of an unnamed rule: nps_once_per_180d, invitations_2_per_30d, account_csat_3_per_7d."""
    if kinds == frozenset(KINDS):
        subject = counts
    else:
        subject = "_".join(k for k in KINDS if k in kinds) + ("_messages" if counts == "messages" else "")
    amount = "once" if limit == 1 else str(limit)
    return f"{'account_' if scope == 'account' else ''}{subject}_{amount}_per_{window_days}d"


# Ten years: longer windows, gaps or deferrals mean nothing for surveys, and
# day counts beyond this overflow date arithmetic (min_gap_days: 100000000000).
MAX_DAYS = 3650
MAX_COUNT = 1000  # touches in a window, priorities


def _integer(value: Any, field: str, *, least: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, "must be a whole number")
    if value < least:
        raise FieldError(field, f"must be at least {least}" + (" (a window of zero or fewer days counts nothing)" if field.endswith("window_days") else ""))
    if value > most:
        raise FieldError(field, f"must be at most {most}")
    return value


def _kinds(value: Any, field: str) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise FieldError(field, 'give "all" or a non-empty list of survey kinds: nps, csat, ces')
    if [v for v in value if isinstance(v, str) and v.lower() == "all"]:
        if len(value) > 1:
            raise FieldError(field, '"all" stands alone')
        return frozenset(KINDS)
    kinds: set[str] = set()
    for index, kind in enumerate(value):
        if not isinstance(kind, str) or kind.lower() not in KINDS:
            raise FieldError(f"{field}[{index}]", f"unknown survey kind {kind!r}; use nps, csat or ces (or \"all\")")
        kinds.add(kind.lower())
    return frozenset(kinds)


def _choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise FieldError(field, f"{value!r} is not one of: {', '.join(choices)}")
    return value.lower()


def _rule(raw: Any, field: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise FieldError(field, "must be an object")
    kinds = _kinds(raw.get("kinds", "all"), f"{field}.kinds")
    counts = _choice(raw.get("counts", "invitations"), f"{field}.counts", COUNTS)
    limit = _integer(raw.get("limit"), f"{field}.limit", least=1, most=MAX_COUNT)
    window_days = _integer(raw.get("window_days"), f"{field}.window_days", least=1, most=MAX_DAYS)
    scope = _choice(raw.get("scope", "contact"), f"{field}.scope", SCOPES)
    name = raw.get("name") or rule_name(kinds, counts, limit, window_days, scope)
    if not isinstance(name, str) or not _NAME.match(name):
        raise FieldError(f"{field}.name", "use lower-case letters, digits and _ (at most 60), starting with a letter")
    return Rule(name, kinds, counts, limit, window_days, scope)


def _kind_settings(raw: Any, defaults: Mapping[str, Any]) -> dict[str, KindSettings]:
    raw = raw if raw is not None else {}
    if not isinstance(raw, Mapping):
        raise FieldError("kinds", "must be an object keyed by survey kind")
    for kind in raw:
        if kind not in KINDS:
            raise FieldError(f"kinds.{kind}", f"unknown survey kind {kind!r}; use nps, csat or ces")
    settings: dict[str, KindSettings] = {}
    for kind in KINDS:
        values = {**defaults[kind], **(raw.get(kind) or {})}
        field = f"kinds.{kind}"
        settings[kind] = KindSettings(
            priority=_integer(values.get("priority"), f"{field}.priority", least=0, most=MAX_COUNT),
            when_full=_choice(values.get("when_full"), f"{field}.when_full", ACTIONS),
            max_defer_days=_integer(values.get("max_defer_days"), f"{field}.max_defer_days", least=1, most=MAX_DAYS),
        )
    return settings


def check_policy(document: Mapping[str, Any], *, version: int = 0) -> Policy:
    """A valid ``Policy`` from ``document``, or ``FieldError`` naming the first bad field."""
    rules_raw = document.get("rules")
    if not isinstance(rules_raw, list):
        raise FieldError("rules", "must be a list of rules")
    rules = tuple(_rule(raw, f"rules[{index}]") for index, raw in enumerate(rules_raw))
    gap = _integer(document.get("min_gap_days", 0), "min_gap_days", least=0, most=MAX_DAYS)
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.name in seen or rule.name == f"min_gap_{gap}d":
            raise FieldError(f"rules[{index}].name", f"{rule.name!r} is already the name of another rule")
        seen[rule.name] = index
    # Two invitations in one window need a gap shorter than the window: a
    # longer minimum gap makes such a rule promise what can never happen.
    for index, rule in enumerate(rules):
        if rule.counts == "invitations" and rule.scope == "contact" and rule.limit >= 2 and gap >= rule.window_days:
            raise FieldError(
                "min_gap_days",
                f"{gap} days between any two invitations contradicts rules[{index}] ({rule.name}), which allows "
                f"{rule.limit} invitations within {rule.window_days} days; make the gap shorter than the window",
            )
    kinds = _kind_settings(document.get("kinds"), DEFAULT_DOCUMENT["kinds"])
    return Policy(version=version, rules=rules, min_gap_days=gap, kinds=kinds)


DEFAULT_POLICY = check_policy(DEFAULT_DOCUMENT, version=0)
