"""Forward decay: old evidence counts less, and adding new evidence stays a plain addition.

An event at time ``t`` is stored with weight ``2 ** ((t - EPOCH) / half_life)``;
the decayed total at ``now`` is the stored sum divided by the weight of ``now``.
Both ``UPDATE … SET w = w + :x`` and a provider's redelivery (kept out by the
event's unique id) therefore stay cheap and exact, with no per-row timestamp.
Weights written under one half-life are read under the same one: changing the
setting re-weights evidence in proportion, not by its true age.
"""

from __future__ import annotations

from datetime import UTC, datetime

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_HALF_LIFE_DAYS = 180.0
_MAX_EXPONENT = 1000.0  # 2**1000 still fits a double; 180-day half-lives reach it after ~490 years


def forward_weight(at: datetime, half_life_days: float) -> float:
    """The stored weight of one event at ``at``."""
    exponent = (at - EPOCH).total_seconds() / (half_life_days * 86400.0)
    return float(2.0 ** max(-_MAX_EXPONENT, min(_MAX_EXPONENT, exponent)))
