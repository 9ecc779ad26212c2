"""Issue 9: how close to the oracle can any learner get on the simulator's population? Seconds, no engine.

    .venv/bin/python bench/channel_ceilings.py [--contacts 300] [--campaigns 4] [--seeds 7,8,9] [--orders all]

The same population and the same answer draws as ``channel_choice.py`` (invite
and two reminders per campaign, campaigns 35 days apart), but the engine is
replaced by a replica of what it feeds channel choice: per contact × medium the
asks, answers, email opens (not Apple's flagged machine opens) and clicks, in-app
prompts shown and dismissed, counted as the engine counts them (each level once
per message) and decayed by the half-life between campaigns; the population's
sums per segment as priors; each reminder's unanswered medium; the day-6
reminder the fatigue budget skips after two dismissed prompts (``--no-weak``:
answers only). Arms, each compared with the oracle and with email only:

- ``learned``: the real ``dispatcher.routing.choose_media`` (exploration on or
  ``--no-explore``), for each channel order asked for;
- ``sticky``: a contact who answered on a medium gets it from then on; until
  then every ask goes to the reachable medium tried least (the order breaks
  ties) — "known best medium after one answer";
- ``bayes``: a learner told the population's generating model (each person's
  odds of having their own medium given phone, role and product use; the mean
  chances on and off it; the unresponsive share; the Apple share and the mean
  chances of reading and clicking an email, for the likelihood of its opens and
  clicks) that sends each ask to the medium with the highest posterior chance — what a perfect model of this
  population would do without the oracle's hidden knowledge.

The replica reproduces the engine's figures to about ±0.02 (seed 7: learned
0.84 / 0.84 / 0.58 here against 0.86 / 0.84 / 0.57 through the engine, before
the retune); use it to see ceilings and to try settings, and
``channel_choice.py`` for the figures we report.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import channel_population as P
import numpy as np
from channel_population import MEDIA, Population, make_population
from common import Timer  # noqa: F401  (puts the repository on sys.path)

from dispatcher.routing import Candidate, Evidence, Priors, choose_media
from dispatcher.routing.evidence import SIGNALS, seen_bucket

GAP_DAYS, HALF_LIFE_DAYS, ASKS = 35, 180.0, 3
START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
Round = tuple[float, float, float]  # episode answer rate, invite answer rate, messages per answer


def _priors(population: Population, evidence: Evidence, number: int, now: datetime) -> Priors:
    """What ``load_priors`` reads: everyone's decayed sums by segment (role, phone, recency)."""
    priors = Priors()
    for i, role in enumerate(population.roles):
        seen = population.last_seen(i, number)
        segment = (role, bool(population.phones[i]), seen_bucket(None if seen is None else now - seen, now))
        for col, medium in enumerate(MEDIA):
            priors.add(segment, medium, {signal: float(evidence.weights[signal][i, col]) for signal in SIGNALS})
    return priors


def _bayes(population: Population, i: int, reach: list[str], evidence: Evidence) -> str:
    """The medium with the highest posterior chance under the population's own generating model."""
    role, use, phone = population.roles[i], population.usage[i], bool(population.phones[i])
    odds = np.array([P.EMAIL_ODDS, P.SMS_ODDS[role] if phone else 0.0, P.IN_APP_ODDS[use][role] if use != "never" else 0.0])
    other = np.array([P.OTHER_MEAN[m] for m in MEDIA])
    hypotheses = [((1 - P.UNRESPONSIVE) * odds[t] / odds.sum(), np.where(np.arange(len(MEDIA)) == t, P.THEIR_MEDIUM_MEAN, other))
                  for t in range(len(MEDIA)) if odds[t] > 0]
    hypotheses.append((P.UNRESPONSIVE, other))
    sent, answered = evidence.counts["sent"][i], evidence.counts["answered"][i]
    weights = np.array([prior * np.prod(p ** answered * (1 - p) ** (sent - answered)) * _email_reactions(evidence, i, p[0] == P.THEIR_MEDIUM_MEAN)
                        for prior, p in hypotheses])
    chance = (weights[:, None] * np.array([p for _, p in hypotheses])).sum(axis=0) / weights.sum()
    return max(reach, key=lambda m: chance[MEDIA.index(m)])


def _email_reactions(evidence: Evidence, i: int, theirs: bool) -> float:
    """The likelihood of a contact's unanswered emails' opens and clicks if email is (or is not)
    their medium, under the population's model (Apple MPP or not, mean read and click chances)."""
    col = MEDIA.index("email")
    sent, opened, clicked, answered = (evidence.counts[s][i, col] for s in ("sent", "opened", "clicked", "answered"))
    n_click, n_open = clicked - answered, opened - clicked
    n_none = sent - answered - n_click - n_open
    read, click = (P.READ_THEIRS, P.CLICK_THEIRS) if theirs else (P.READ_OTHER, P.CLICK_OTHER)
    human = (read * click) ** n_click * (read * (1 - click)) ** n_open * (1 - read) ** n_none
    machine = (read * click) ** n_click * (P.MACHINE_UNFLAGGED * (1 - read * click)) ** n_open * ((1 - P.MACHINE_UNFLAGGED) * (1 - read * click)) ** n_none
    return float(P.MPP_SHARE * machine + (1 - P.MPP_SHARE) * human)


def _sticky(i: int, reach: list[str], evidence: Evidence) -> str:
    answered = [m for m in reach if evidence.counts["answered"][i, MEDIA.index(m)] > 0]
    if answered:
        return max(answered, key=lambda m: evidence.counts["answered"][i, MEDIA.index(m)])
    return min(reach, key=lambda m: (evidence.counts["sent"][i, MEDIA.index(m)], reach.index(m)))


def reaction(population: Population, i: int, number: int, ask: int, medium: str, hit: bool) -> list[str]:
    """The counters one ask moves, as the engine counts them (each level once per message):
    an email's SendGrid opens (a flagged machine open is a delivery only) and clicks, an
    in-app prompt shown (``opened``) and dismissed, an answer (which reaches every level)."""
    signals = ["sent"]
    if medium == "email":
        events = population.email_reaction(i, number, ask, hit)
        signals += ["opened"] if hit or "open" in events or "click" in events else []
        signals += ["clicked"] if "click" in events else []
    elif medium == "in_app" and (hit or population.shown(i, number, ask)):
        signals += ["opened"] + ([] if hit or not population.dismisses(i, number, ask) else ["dismissed"])
    return signals + (["answered"] if hit else [])


def run(population: Population, arm: str, order: Sequence[str], *, campaigns: int, seed: int, explore: bool = True, weak: bool = True) -> list[Round]:
    """Every campaign of one arm; per campaign (episode rate, invite rate, messages per answer)."""
    count = len(population)
    evidence = Evidence.empty(list(range(1, count + 1)))
    decay = 0.5 ** (GAP_DAYS / HALF_LIFE_DAYS)
    rounds = []
    for number in range(1, campaigns + 1):
        now = START + timedelta(days=GAP_DAYS * (number - 1))
        for signal in SIGNALS:
            evidence.weights[signal] *= decay
        answered = np.zeros(count, dtype=bool)
        dismissals = np.zeros(count, dtype=int)
        last: list[str | None] = [None] * count
        asks = invite_answers = 0
        for ask in range(ASKS):
            # The fatigue budget (4 messages in 7 days) counts a dismissal as a touch: after two
            # dismissed prompts (days 0 and 3) the engine skips the day-6 reminder.
            waiting = [i for i in range(count) if not answered[i] and dismissals[i] < 2]
            reach = {i: [m for m in order if m in population.reachable(i, number)] for i in waiting}
            if arm == "oracle":
                media = [population.best(i, number) for i in waiting]
            elif arm == "sticky":
                media = [_sticky(i, reach[i], evidence) for i in waiting]
            elif arm == "revealed":
                media = [population.best(i, number) if evidence.counts["answered"][i].sum() else _sticky(i, reach[i], evidence) for i in waiting]
            elif arm == "bayes":
                media = [_bayes(population, i, reach[i], evidence) for i in waiting]
            elif arm == "email only":
                media = ["email"] * len(waiting)
            else:
                candidates = [Candidate(i + 1, tuple(reach[i]), population.roles[i],
                                        None if (seen := population.last_seen(i, number)) is None else now - seen, last[i] if ask else None)
                              for i in waiting]
                chosen = choose_media(candidates, order=order, evidence=evidence, priors=_priors(population, evidence, number, now), mode="learned",
                                      explore=explore, seed=(seed, number, ask), now=now + timedelta(days=3 * ask))
                media = [c.medium or "email" for c in chosen]
            for i, medium in zip(waiting, media, strict=True):
                col = MEDIA.index(medium)
                asks += 1
                hit = population.answers(i, number, ask, medium)
                signals = reaction(population, i, number, ask, medium, hit) if weak else ["sent"] + (["answered"] if hit else [])
                dismissals[i] += "dismissed" in signals
                for signal in signals:
                    evidence.weights[signal][i, col] += 1
                    evidence.counts[signal][i, col] += 1
                answered[i] |= hit
                last[i] = medium
                invite_answers += hit and ask == 0
        rounds.append((float(answered.mean()), invite_answers / count, asks / max(1, int(answered.sum()))))
    return rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--seeds", default="7,8,9")
    parser.add_argument("--orders", default="email,sms,in_app", help="';'-separated channel orders for learned, or all")
    parser.add_argument("--no-explore", action="store_true")
    parser.add_argument("--no-weak", action="store_true", help="answers only: no opens, clicks, prompts shown or dismissals")
    args = parser.parse_args()
    orders = list(itertools.permutations(MEDIA)) if args.orders == "all" else [tuple(o.split(",")) for o in args.orders.split(";")]
    arms = [(f"learned {'>'.join(o)}", "learned", o) for o in orders] + [(a, a, MEDIA) for a in ("sticky", "bayes", "revealed")]
    totals: dict[str, list[np.ndarray]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        population = make_population(args.contacts, seed=seed)
        oracle = np.array(run(population, "oracle", MEDIA, campaigns=args.campaigns, seed=seed))
        email = np.array(run(population, "email only", ("email",), campaigns=args.campaigns, seed=seed))
        print(f"\nseed {seed}: per campaign, episode rate / invite rate x oracle, messages per answer x email only"
              f" (oracle itself: {oracle[-1, 2] / email[-1, 2]:.3f}x email only in campaign {args.campaigns})")
        for name, arm, order in arms:
            got = np.array(run(population, arm, order, campaigns=args.campaigns, seed=seed, explore=not args.no_explore, weak=not args.no_weak))
            ratios = np.stack([got[:, 0] / oracle[:, 0], got[:, 1] / oracle[:, 1], got[:, 2] / email[:, 2]], axis=1)
            totals.setdefault(name, []).append(ratios)
            print(f"  {name:<24} " + " | ".join(f"{a:.3f} {b:.3f} {c:.3f}" for a, b, c in ratios), flush=True)
    print(f"\nmean over seeds per campaign 1..{args.campaigns}: episode rate / invite rate x oracle, messages per answer x email only"
          " (goal by the last: >= 0.97, >= 0.95, <= 0.5)")
    for name, rows in totals.items():
        mean = np.mean(rows, axis=0)
        print(f"  {name:<24} " + " | ".join(f"{a:.3f} {b:.3f} {c:.3f}" for a, b, c in mean))
    return 0


if __name__ == "__main__":
    sys.exit(main())
