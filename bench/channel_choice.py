"""Issue 9: does learned channel choice get the answers an oracle would? A simulator.

    .venv/bin/python bench/channel_choice.py [--contacts 300] [--campaigns 4] [--seed 7] [--arms all] [--jobs 2]

A synthetic population (``population.py``) has, per contact and medium, a
hidden chance of answering one message, correlated with what Pulse can see
(a phone number, the role, how recently they used the product) but not
determined by it. The same population goes through successive CES campaigns
(invite, reminders on days 3 and 6, close on day 10; 35 days apart on the
database clock, so the default fatigue budget — CES once per 30 days, two
invitations per 30 days — lets every one through without changing the policy) in the real engine: a SQLite database,
the scheduler tick, email through the SendGrid adapter to the SendGrid fake, SMS
to the outbox, and the real answer endpoints through the FastAPI TestClient
(survey link with the form ticket, Twilio's signed inbound webhook, the in-app
prompt API). People also react without answering — email opens (Apple's proxy
opening everything for some), clicks to the survey page, in-app prompts shown
and dismissed — and those reach Pulse through SendGrid's signed Event Webhook
and the prompt API (``channel_engine``). Each message's answer and reaction are
draws shared by every arm (common random numbers), so arms differ only by the
media they chose.

Arms: ``learned`` (exploration on, the order email, sms, in_app; ``--learned-orders``
adds others), each static order (``ordered``, first reachable), email only, and an
oracle that sends every message of a contact on the medium with their highest
hidden chance among those reachable then. Prints per campaign: answer rate per
episode and per invite message, messages per answer, each medium's share, and
for ``learned`` the ratios to the oracle, to the best static order and to email only.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from channel_engine import Engine, RoundStats
from channel_population import MEDIA, Population, make_population
from common import Timer  # noqa: F401  (puts the repository on sys.path)

CAMPAIGN_GAP_DAYS = 35


@dataclass(frozen=True)
class Arm:
    name: str
    channels: tuple[str, ...]
    choice: str  # learned, ordered, oracle


def arms(selection: str, learned_orders: Sequence[str]) -> list[Arm]:
    found = [Arm(f"learned {'>'.join(o.split(','))}", tuple(o.split(",")), "learned") for o in learned_orders]
    found.append(Arm("oracle", MEDIA, "oracle"))
    found.append(Arm("email only", ("email",), "ordered"))
    found += [Arm(f"ordered {'>'.join(order)}", order, "ordered") for order in itertools.permutations(MEDIA)]
    if selection == "all":
        return found
    wanted = set(selection.split(","))
    return [a for a in found if a.choice in wanted or a.name in wanted]


def run_arm(arm: Arm, population: Population, *, campaigns: int, seed: int, explore: bool) -> list[RoundStats]:
    """Every campaign of one arm, in its own fresh engine."""
    with tempfile.TemporaryDirectory(prefix="pulse-sim-") as folder:
        engine = Engine(Path(folder), population, seed=seed, explore=explore)
        try:
            return [engine.run_round(number, arm.channels, arm.choice, gap_days=CAMPAIGN_GAP_DAYS) for number in range(1, campaigns + 1)]
        finally:
            engine.close()


def _row(name: str, stats: RoundStats) -> str:
    shares = " ".join(f"{m}:{stats.share(m):4.0%}" for m in MEDIA)
    return (f"  {name:<26} {stats.episode_rate:6.3f} {stats.invite_rate:7.3f} {stats.messages_per_answer:6.2f}   {shares}"
            f"   ({stats.answered}/{stats.episodes} episodes, {stats.asks} asks)")


def report(results: dict[str, list[RoundStats]], campaigns: int) -> tuple[list[str], int]:
    failures: list[str] = []
    checked = 0
    statics = [n for n in results if n.startswith("ordered ")]
    for index in range(campaigns):
        print(f"\ncampaign {index + 1}: {'arm':<26} {'ep.rate':>6} {'inv.rate':>7} {'msg/ans':>6}   share of asks by medium")
        for name, rounds in results.items():
            print(_row(name, rounds[index]))
        oracle = results.get("oracle", [None] * campaigns)[index]
        email = results.get("email only", [None] * campaigns)[index]
        best = max((results[n][index] for n in statics), key=lambda s: s.episode_rate, default=None)
        best_name = next((n for n in statics if results[n][index] is best), None)
        for name, rounds in results.items():
            if not name.startswith("learned"):
                continue
            stats = rounds[index]
            parts = []
            if oracle is not None:
                parts.append(f"episode rate {stats.episode_rate / oracle.episode_rate:.3f}x oracle")
                parts.append(f"invite rate {stats.invite_rate / oracle.invite_rate:.3f}x oracle")
            if best is not None:
                parts.append(f"episode rate {stats.episode_rate / best.episode_rate:.3f}x best static ({best_name})")
            if email is not None:
                parts.append(f"messages per answer {stats.messages_per_answer / email.messages_per_answer:.3f}x email only")
            if parts:
                print(f"  -> {name}: " + "; ".join(parts))
            if index == campaigns - 1 and oracle is not None and best is not None and email is not None:
                goals = [
                    (stats.episode_rate >= 0.97 * oracle.episode_rate, "episode rate >= 0.97x oracle"),
                    (stats.episode_rate > best.episode_rate, "episode rate > best static order"),
                    (stats.invite_rate >= 0.95 * oracle.invite_rate, "invite rate >= 0.95x oracle"),
                    (stats.messages_per_answer <= 0.5 * email.messages_per_answer, "messages per answer <= 0.5x email only"),
                ]
                checked += len(goals)
                for met, goal in goals:
                    print(f"     {'met ' if met else 'MISSED'} {goal}")
                    if not met:
                        failures.append(f"{name}: {goal}")
    return failures, checked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7, help="the population, the answers and channel choice's draws")
    parser.add_argument("--arms", default="all", help="all, or a comma list of: learned, oracle, ordered, 'email only', an arm's name")
    parser.add_argument("--learned-orders", default="email,sms,in_app", help="';'-separated channel orders for learned arms")
    parser.add_argument("--no-explore", action="store_true", help="learned arms exploit only (PULSE_CHANNEL_EXPLORE=false)")
    parser.add_argument("--jobs", type=int, default=1, help="arms run in this many processes at once")
    args = parser.parse_args()
    population = make_population(args.contacts, seed=args.seed)
    print(population.describe())
    chosen = arms(args.arms, args.learned_orders.split(";"))
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {arm.name: pool.submit(run_arm, arm, population, campaigns=args.campaigns, seed=args.seed, explore=not args.no_explore) for arm in chosen}
        results: dict[str, list[RoundStats]] = {}
        for name, future in futures.items():
            results[name] = future.result()
            print(f"{name} done after {time.perf_counter() - started:.0f} s", flush=True)
    failures, checked = report(results, args.campaigns)
    if not checked:
        print("\ngoals not checked: they need learned, oracle, email only and the static orders (--arms all)")
    else:
        print("\nall goals met" if not failures else f"\ngoals missed: {failures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
