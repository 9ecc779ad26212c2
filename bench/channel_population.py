"""The simulator's synthetic population: what Pulse sees of each contact, and what it cannot.

Observable: a phone number (more often for executives), the role, how recently
they used the product (a pattern per person: daily users, occasional users,
never). Hidden: per medium, the chance that one message on it gets an answer.
Most people have a medium they actually answer on (about half their messages
there) and mostly ignore the others; some answer nothing much anywhere. Which
medium is theirs is drawn with odds that depend on the observable fields —
executives with a phone lean to SMS, daily product users to in-app — so the
fields inform a guess but never settle it.

Answers are common random numbers: message ``k`` (0 the invite, then reminders)
of campaign ``r`` to contact ``c`` is answered on medium ``m`` exactly when
``u[c, r, k] < p[c, m]``, whichever arm sent it.

People also react without answering, and those weaker signals are drawn the
same way (one shared draw per contact, campaign and ask, from a generator of
their own, so ``p`` and ``u`` are the same as without them):

- Email opens. A person reads an email they do not answer with a hidden chance
  of their own, higher when email is their medium (about 0.45, Beta-spread)
  than otherwise (about 0.12); an answer by link was read. ``MPP_SHARE`` of
  contacts read their mail in Apple Mail with Privacy Protection: Apple's proxy
  fetches every email's images on delivery, so each of their emails shows an
  open whatever they do, and no human open is ever seen (the image is cached).
  SendGrid marks such opens ``sg_machine_open`` — all but ``MACHINE_UNFLAGGED``
  of them, whose proxy address it does not recognise; those look human.
- Clicks without an answer: a person who read an email and did not answer
  opens the survey page (and leaves) with a chance of ``CLICK_THEIRS`` when
  email is their medium, ``CLICK_OTHER`` otherwise. An answer by link is a click.
- In-app prompts shown: a prompt is only seen by someone who comes to the
  product while it lasts (until the next step): an answer or a dismissal was
  shown; otherwise it is shown with ``VISIT`` by product use (daily users
  nearly always, occasional ones a third of the time). Of the shown and
  unanswered, half are dismissed (the ``dismiss`` draw, as before).

Not simulated: bounces and SMS delivery failures — an address that fails would
change who can answer where, that is the hidden answer model itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

MEDIA = ("email", "sms", "in_app")
ROLES = ("admin", "user", "exec")
ROLE_SHARE = (0.3, 0.5, 0.2)
PHONE = {"admin": 0.6, "user": 0.4, "exec": 0.8}
USAGE = {"admin": (0.6, 0.3), "user": (0.5, 0.3), "exec": (0.15, 0.35)}  # (daily, occasional); the rest never
# Odds of each medium being the one a person answers on, by what Pulse can see.
EMAIL_ODDS = 1.0
SMS_ODDS = {"admin": 1.0, "user": 0.8, "exec": 2.5}  # with a phone
IN_APP_ODDS = {"daily": {"admin": 2.5, "user": 2.0, "exec": 0.7}, "occasional": {"admin": 0.5, "user": 0.5, "exec": 0.2}}
UNRESPONSIVE = 0.15  # answer nothing much anywhere
THEIR_MEDIUM_MEAN = 0.5  # the chance one message on their medium is answered, on average
OTHER_MEAN = {"email": 0.07, "sms": 0.04, "in_app": 0.06}  # elsewhere
IN_APP_REACH_DAYS = 30  # Pulse only prompts people seen in the product this recently
MAX_ROUNDS, MAX_ASKS = 12, 3
# Reactions without an answer (see the module docstring).
MPP_SHARE = 0.35  # read mail in Apple Mail with Privacy Protection: every email shows a (machine) open
MACHINE_UNFLAGGED = 0.1  # of those opens, SendGrid does not recognise this share as machine opens
READ_THEIRS, READ_OTHER = 0.45, 0.12  # mean chance a person reads an email they do not answer
CLICK_THEIRS, CLICK_OTHER = 0.2, 0.05  # chance a read, unanswered email's survey page is opened
VISIT = {"daily": 0.9, "occasional": 0.3, "never": 0.0}  # chance an unanswered in-app prompt is shown


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
    mpp: np.ndarray  # (contacts,) bool: Apple Mail Privacy Protection
    read: np.ndarray  # (contacts,) hidden chance an unanswered email is read (opened by a person)
    click: np.ndarray  # (contacts,) hidden chance a read, unanswered email's survey page is opened
    react: np.ndarray  # (contacts, MAX_ROUNDS, MAX_ASKS, 4) draws: read, click, machine flag, shown

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

    def email_reaction(self, index: int, round_number: int, ask: int, answered: bool) -> tuple[str, ...]:
        """SendGrid's engagement events for one delivered email: ``open`` (a person, or an
        unflagged machine open), ``machine_open`` (flagged), ``click``; an answer by link is
        an open (unless the proxy's came first) and a click."""
        read, click, flag, _ = self.react[index, round_number - 1, min(ask, MAX_ASKS - 1)]
        events: list[str] = []
        if self.mpp[index]:
            events.append("open" if flag < MACHINE_UNFLAGGED else "machine_open")
        if answered:
            return (*events, *(() if self.mpp[index] else ("open",)), "click")
        if not self.mpp[index] and read < self.read[index]:
            events.append("open")
        if (self.mpp[index] or read < self.read[index]) and click < self.click[index]:
            events.append("click")  # MPP readers read too: the proxy hides their open, not their click
        return tuple(events)

    def shown(self, index: int, round_number: int, ask: int) -> bool:
        """An unanswered in-app prompt was shown: the person came to the product while it lasted."""
        return bool(self.react[index, round_number - 1, min(ask, MAX_ASKS - 1), 3] < VISIT[self.usage[index]])

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
    email_theirs = np.zeros(count, dtype=bool)
    for i in range(count):
        role = str(rng.choice(ROLES, p=ROLE_SHARE))
        has_phone = bool(rng.random() < PHONE[role])
        daily, occasional = USAGE[role]
        draw = rng.random()
        use = "daily" if draw < daily else "occasional" if draw < daily + occasional else "never"
        roles.append(role)
        phones.append(f"+1415{2_000_000 + i:07d}" if has_phone else None)
        usage.append(use)
        reachable = {"email": True, "sms": has_phone, "in_app": use != "never"}
        odds = np.array([EMAIL_ODDS, SMS_ODDS[role] if has_phone else 0.0, IN_APP_ODDS[use][role] if use != "never" else 0.0])
        theirs = MEDIA[int(rng.choice(len(MEDIA), p=odds / odds.sum()))]
        responsive = rng.random() >= UNRESPONSIVE
        email_theirs[i] = responsive and theirs == "email"
        for col, medium in enumerate(MEDIA):
            if reachable[medium]:
                mean = THEIR_MEDIUM_MEAN if medium == theirs and responsive else OTHER_MEAN[medium]
                p[i, col] = _beta_around(rng, mean)
        if use != "never":
            seen[i] = rng.uniform(0, 4, MAX_ROUNDS) if use == "daily" else rng.uniform(0, 45, MAX_ROUNDS)
    u, dismiss = rng.random((count, MAX_ROUNDS, MAX_ASKS)), rng.random((count, MAX_ROUNDS, MAX_ASKS))
    weak = np.random.default_rng([seed, 10])  # reactions: their own generator, so p, u and dismiss stay as they were
    mpp = weak.random(count) < MPP_SHARE
    read = np.array([_beta_around(weak, READ_THEIRS if theirs else READ_OTHER, 8.0) for theirs in email_theirs])
    click = np.where(email_theirs, CLICK_THEIRS, CLICK_OTHER)
    react = weak.random((count, MAX_ROUNDS, MAX_ASKS, 4))
    return Population([f"sim-{i}" for i in range(count)], roles, phones, usage, p, u, dismiss, seen, mpp, read, click, react)
