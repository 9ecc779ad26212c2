"""An independent audit of the fatigue ledger: plain SQL over ``fatigue_touches``, no Pulse evaluator.

For every counting touch that the budget judged (everything but an in-app
dismissal, which is a fact and never judged), and for every rule of the policy
version it was recorded under: no window of the rule's length that holds the
touch may hold more than the rule's limit of counted touches recorded no later
than it (``id`` order is recording order: the budget serialises each scope).
A window can be assumed to start at one of those touches, so the query tries
each as a start. The minimum gap is checked pairwise.

Times are compared as integer microseconds since the epoch on both backends,
so a touch exactly one window after another is judged without float error.
The defaults are written out here from DESIGN.md, not imported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

DESIGN_DEFAULTS: dict[str, Any] = {
    "rules": [
        {"name": "nps_once_per_180d", "kinds": ["nps"], "counts": "invitations", "limit": 1, "window_days": 180, "scope": "contact"},
        {"name": "ces_once_per_30d", "kinds": ["ces"], "counts": "invitations", "limit": 1, "window_days": 30, "scope": "contact"},
        {"name": "csat_once_per_7d", "kinds": ["csat"], "counts": "invitations", "limit": 1, "window_days": 7, "scope": "contact"},
        {"name": "invitations_2_per_30d", "kinds": "all", "counts": "invitations", "limit": 2, "window_days": 30, "scope": "contact"},
        {"name": "messages_4_per_7d", "kinds": "all", "counts": "messages", "limit": 4, "window_days": 7, "scope": "contact"},
    ],
    "min_gap_days": 3,
}
COUNTING = "('reserved', 'planned', 'sent')"
DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True)
class Violation:
    rule: str
    touch_id: int
    contact_id: int
    count: int


def _micros(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
    # SQLAlchemy stores SQLite datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC.
    return f"(CAST(strftime('%s', {column}) AS INTEGER) * 1000000 + CAST(substr({column}, 21, 6) AS INTEGER))"


def _counted(alias: str, rule: dict[str, Any]) -> str:
    kinds = ["nps", "csat", "ces"] if rule["kinds"] == "all" else rule["kinds"]
    kind_list = ", ".join(f"'{k}'" for k in kinds)
    invitations = f" AND {alias}.step = 'invite'" if rule["counts"] == "invitations" else ""
    return f"{alias}.state IN {COUNTING} AND {alias}.kind IN ({kind_list}){invitations}"


def _same_scope(alias: str, rule: dict[str, Any]) -> str:
    if rule["scope"] == "account":
        return (f"((x.account_id IS NOT NULL AND {alias}.account_id = x.account_id)"
                f" OR (x.account_id IS NULL AND {alias}.contact_id = x.contact_id))")
    return f"{alias}.contact_id = x.contact_id"


def _window_sql(dialect: str, version: int, rule: dict[str, Any], n: int) -> tuple[str, dict[str, Any]]:
    x, s, z = (_micros(dialect, f"{a}.at") for a in ("x", "s", "z"))
    sql = f"""
        SELECT '{rule["name"]}' AS rule, x.id AS touch_id, x.contact_id, COUNT(z.id) AS n
        FROM fatigue_touches x
        JOIN fatigue_touches s ON {_same_scope('s', rule)} AND {_counted('s', rule)}
             AND s.id <= x.id AND {s} > {x} - :window_{n} AND {s} <= {x}
        JOIN fatigue_touches z ON {_same_scope('z', rule)} AND {_counted('z', rule)}
             AND z.id <= x.id AND {z} >= {s} AND {z} < {s} + :window_{n}
        WHERE x.policy_version = :version_{n} AND x.step <> 'dismissal' AND {_counted('x', rule)}
        GROUP BY x.id, x.contact_id, s.id
        HAVING COUNT(z.id) > :limit_{n}
    """
    return sql, {f"window_{n}": rule["window_days"] * DAY_US, f"version_{n}": version, f"limit_{n}": rule["limit"]}


def _gap_sql(dialect: str, version: int, gap_days: int, n: int) -> tuple[str, dict[str, Any]]:
    x, y = _micros(dialect, "x.at"), _micros(dialect, "y.at")
    sql = f"""
        SELECT 'min_gap_{gap_days}d' AS rule, x.id AS touch_id, x.contact_id, 2 AS n FROM fatigue_touches x
        JOIN fatigue_touches y ON y.contact_id = x.contact_id AND y.id < x.id AND y.step = 'invite'
             AND y.state IN {COUNTING} AND ABS({x} - {y}) < :gap_{n}
        WHERE x.policy_version = :version_{n} AND x.step = 'invite' AND x.state IN {COUNTING}
    """
    return sql, {f"gap_{n}": gap_days * DAY_US, f"version_{n}": version}


def policy_documents(session: Session) -> dict[int, dict[str, Any]]:
    documents = {0: DESIGN_DEFAULTS}
    for version, document in session.execute(text("SELECT id, document FROM fatigue_policies")):
        documents[version] = document if isinstance(document, dict) else json.loads(document)
    return documents


def audit(session: Session) -> list[Violation]:
    """Every touch that broke a rule of the policy it was recorded under; [] when the ledger is sound.

    One statement: a UNION ALL of one query per (version, rule) and per version's gap.
    """
    dialect = session.get_bind().dialect.name
    parts: list[str] = []
    params: dict[str, Any] = {}
    for version, document in policy_documents(session).items():
        pieces = [_window_sql(dialect, version, rule, len(parts) + i) for i, rule in enumerate(document["rules"])]
        if document.get("min_gap_days", 0) > 0:
            pieces.append(_gap_sql(dialect, version, document["min_gap_days"], len(parts) + len(pieces)))
        for sql, values in pieces:
            parts.append(sql)
            params.update(values)
    unknown = session.execute(text("SELECT id FROM fatigue_touches WHERE policy_version NOT IN (0) AND policy_version NOT IN (SELECT id FROM fatigue_policies)")).all()
    assert unknown == [], f"touches recorded under a policy version that does not exist: {unknown}"
    rows = session.execute(text(" UNION ALL ".join(parts)), params).all()
    return sorted({Violation(r[0], r[1], r[2], r[3]) for r in rows}, key=lambda v: (v.touch_id, v.rule))
