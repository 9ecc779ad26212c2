"""The simulator's synthetic population: what Pulse sees of each contact, and what it cannot.

Observable: a phone number (more often for executives), the role, how recently
they used the product (a pattern per person: daily users, occasional users,
never). Hidden: per medium, the chance that one message on it gets an answer —
drawn from distributions that depend on the observable fields, with a personal
draw on top, so the fields inform a guess but never settle it:

- email: low for most (busy inboxes), a little higher for executives;
- SMS: a minority of "texters" answer about half their texts, the rest almost never;
- in-app: daily users often answer, occasional users rarely, executives seldom.

Answers are common random numbers: message ``k`` (0 the invite, then reminders)
of campaign ``r`` to contact ``c`` is answered on medium ``m`` exactly when
``u[c, r, k] < p[c, m]``, whichever arm sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

MEDIA = ("email", "sms", "in_app")
ROLES = ("admin", "user", "exec")
ROLE_SHARE = (0.3, 0.5, 0.2)
PHONE = {"admin": 0.6, "user": 0.4, "exec": 0.8}
TEXTER = {"admin": 0.35, "user": 0.3, "exec": 0.5}
EMAIL_MEAN = {"admin": 0.12, "user": 0.08, "exec": 0.18}
USAGE = {"admin": (0.6, 0.3), "user": (0.5, 0.3), "exec": (0.15, 0.35)}  # (daily, occasional); the rest never
IN_APP_MEAN = {("daily", "admin"): 0.45, ("daily", "user"): 0.35, ("daily", "exec"): 0.2,
               ("occasional", "admin"): 0.12, ("occasional", "user"): 0.1, ("occasional", "exec"): 0.05}
IN_APP_REACH_DAYS = 30  # Pulse only prompts people seen in the product this recently
MAX_ROUNDS, MAX_ASKS = 12, 3


def _beta_around(rng: np.random.Generator, mean: float, strength: float = 12.0) -> float:
    return float(rng.beta(mean * strength, (1 - mean) * strength))


@dataclass
class Population:
    external_ids: list[str]
    roles: list[str]
    phones: list[str | None]
    usage: list[str]  # daily, occasional, never
    p: np.ndarray  # (contacts, MEDIA) hidden chance one message is answered; 0 where unreachable for good
    u: np.ndarray  # (contacts, MAX_ROUNDS, MAX_ASKS) the answer draws
    dismiss: np.ndarray  # (contacts, MAX_ROUNDS, MAX_ASKS) an unanswered in-app prompt is dismissed when < 0.5
    seen: np.ndarray  # (contacts, MAX_ROUNDS) days since last seen before each campaign (nan: never)

    def __len__(self) -> int:
        return len(self.external_ids)

    def last_seen(self, index: int, round_number: int) -> timedelta | None:
        days = self.seen[index, round_number - 1]
        return None if np.isnan(days) else timedelta(days=float(days))

    def reachable(self, index: int, round_number: int) -> list[str]:
        media = ["email"]
        if self.phones[index]:
            media.append("sms")
        seen = self.last_seen(index, round_number)
        if seen is not None and seen <= timedelta(days=IN_APP_REACH_DAYS):
            media.append("in_app")
        return media

    def best(self, index: int, round_number: int) -> str:
        """The oracle: the reachable medium with the highest hidden chance."""
        return max(self.reachable(index, round_number), key=lambda m: self.p[index, MEDIA.index(m)])

    def answers(self, index: int, round_number: int, ask: int, medium: str) -> bool:
        return bool(self.u[index, round_number - 1, min(ask, MAX_ASKS - 1)] < self.p[index, MEDIA.index(medium)])

    def dismisses(self, index: int, round_number: int, ask: int) -> bool:
        return bool(self.dismiss[index, round_number - 1, min(ask, MAX_ASKS - 1)] < 0.5)

    def describe(self) -> str:
        best = [self.best(i, 1) for i in range(len(self))]
        counts = {m: best.count(m) for m in MEDIA}
        mean_p = {m: float(np.mean([self.p[i, MEDIA.index(m)] for i in range(len(self)) if m in self.reachable(i, 1)] or [0])) for m in MEDIA}
        return (f"population: {len(self)} contacts; roles {dict(zip(ROLES, [self.roles.count(r) for r in ROLES], strict=True))}; "
                f"with phone {sum(1 for p in self.phones if p)}; best medium (campaign 1) {counts}; "
                f"mean hidden chance where reachable {{{', '.join(f'{m}: {v:.2f}' for m, v in mean_p.items())}}}")


def make_population(count: int, *, seed: int) -> Population:
    rng = np.random.default_rng([seed, 9])
    roles, phones, usage = [], [], []
    p = np.zeros((count, len(MEDIA)))
    seen = np.full((count, MAX_ROUNDS), np.nan)
    for i in range(count):
        role = str(rng.choice(ROLES, p=ROLE_SHARE))
        has_phone = rng.random() < PHONE[role]
        daily, occasional = USAGE[role]
        draw = rng.random()
        use = "daily" if draw < daily else "occasional" if draw < daily + occasional else "never"
        roles.append(role)
        phones.append(f"+1415{2_000_000 + i:07d}" if has_phone else None)
        usage.append(use)
        p[i, 0] = _beta_around(rng, EMAIL_MEAN[role])
        if has_phone:
            p[i, 1] = _beta_around(rng, 0.5) if rng.random() < TEXTER[role] else _beta_around(rng, 0.04, 25)
        if use != "never":
            p[i, 2] = _beta_around(rng, IN_APP_MEAN[(use, role)])
            seen[i] = rng.uniform(0, 4, MAX_ROUNDS) if use == "daily" else rng.uniform(0, 45, MAX_ROUNDS)
    return Population(
        [f"sim-{i}" for i in range(count)], roles, phones, usage, p,
        rng.random((count, MAX_ROUNDS, MAX_ASKS)), rng.random((count, MAX_ROUNDS, MAX_ASKS)), seen,
    )
