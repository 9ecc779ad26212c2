"""The channel-choice model as arithmetic: posteriors, shrinkage, availability, replay (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from dispatcher.routing import MEDIA, Candidate, Evidence, Priors, choose_media

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ORDER = ("email", "sms", "in_app")


def evidence_for(history: dict[int, dict[str, dict[str, float]]]) -> Evidence:
    """Evidence where decayed weights equal the plain counts (all of it happened now)."""
    evidence = Evidence.empty(list(history))
    for contact_id, by_medium in history.items():
        row = evidence.index[contact_id]
        for medium, signals in by_medium.items():
            for signal, value in signals.items():
                evidence.counts[signal][row, MEDIA.index(medium)] = value
                evidence.weights[signal][row, MEDIA.index(medium)] = value
    return evidence


def everyone(role: str | None, **per_medium: dict[str, float]) -> Priors:
    priors = Priors()
    group = {s: np.zeros(len(MEDIA)) for s in priors.overall}
    for medium, signals in per_medium.items():
        for signal, value in signals.items():
            group[signal][MEDIA.index(medium)] += value
            priors.overall[signal][MEDIA.index(medium)] += value
    priors.by_role[role] = group
    return priors


def test_answers_on_a_medium_raise_its_estimate_and_the_reason_counts_them() -> None:
    evidence = evidence_for({1: {"sms": {"sent": 3, "answered": 2}, "email": {"sent": 4, "opened": 1}}})
    [choice] = choose_media([Candidate(1, ("email", "sms"))], order=ORDER, evidence=evidence, priors=Priors(), explore=False, now=NOW)
    assert choice.medium == "sms"
    # Beta(κμ + S, κ(1 − μ) + F) with κ = 2, μ = 0.2 (0.2 × 0.97 for the second medium in the order)
    assert choice.estimates["sms"] == round((2 * 0.194 + 2) / (2 + 3), 4)
    assert choice.estimates["email"] == round((2 * 0.2 + 0.03) / (2 + 4), 4)  # an open is worth 0.03 of an answer
    assert choice.reason == "sms: answered 2 of 3 SMS; email: answered 0 of 4 emails (opened 1)"


def test_an_unanswered_invite_moves_the_reminder_to_the_next_medium() -> None:
    evidence = evidence_for({1: {"email": {"sent": 1}}})
    [choice] = choose_media([Candidate(1, ("email", "sms"))], order=ORDER, evidence=evidence, priors=Priors(), explore=False, now=NOW)
    assert choice.medium == "sms"
    assert choice.reason.startswith("sms: no survey on it yet") and "email: answered 0 of 1 email" in choice.reason


def test_cold_start_follows_the_campaign_order() -> None:
    candidates = [Candidate(1, ("email", "sms", "in_app")), Candidate(2, ("sms", "in_app"))]
    choices = choose_media(candidates, order=("sms", "in_app", "email"), evidence=Evidence.empty([1, 2]), priors=Priors(), explore=False, now=NOW)
    assert [c.medium for c in choices] == ["sms", "sms"]
    assert choices[0].reason == "sms: cold start, the first of the campaign's channels"


def test_in_app_cold_start_prefers_people_seen_in_the_product_lately() -> None:
    seen = Candidate(1, ("email", "in_app"), last_seen_at=NOW - timedelta(days=2))
    [choice] = choose_media([seen], order=ORDER, evidence=Evidence.empty([1]), priors=Priors(), explore=False, now=NOW)
    assert choice.medium == "in_app"
    assert choice.reason == "in_app: cold start, seen in product 2 days ago"


def test_the_prior_is_learned_per_role_and_shrunk_towards_everyone() -> None:
    priors = everyone("admin", in_app={"sent": 200, "answered": 120}, email={"sent": 200, "answered": 10})
    admin, stranger = Candidate(1, ORDER, role="admin", last_seen_at=NOW - timedelta(days=20)), Candidate(2, ORDER, role="finance", last_seen_at=NOW - timedelta(days=20))
    choices = choose_media([admin, stranger], order=ORDER, evidence=Evidence.empty([1, 2]), priors=priors, explore=False, now=NOW)
    assert choices[0].medium == "in_app" and choices[0].reason.startswith("in_app: cold start, seen in product 20 days ago")
    assert choices[0].estimates["in_app"] > 0.4
    # A role without history gets everyone's rates: shrunk, so less sure than the admins' own.
    assert choices[1].medium == "in_app"
    assert choices[0].estimates["in_app"] >= choices[1].estimates["in_app"] > choices[1].estimates["email"]


def test_own_history_outweighs_the_prior() -> None:
    priors = everyone("admin", in_app={"sent": 200, "answered": 120})
    evidence = evidence_for({1: {"in_app": {"sent": 4, "dismissed": 4}, "email": {"sent": 2, "answered": 2}}})
    [choice] = choose_media([Candidate(1, ORDER, role="admin")], order=ORDER, evidence=evidence, priors=priors, explore=False, now=NOW)
    assert choice.medium == "email"
    assert "in_app: answered 0 of 4 in-app prompts (dismissed 4)" in choice.reason


def test_an_unavailable_medium_is_never_chosen_even_when_exploring() -> None:
    rng = np.random.default_rng(7)
    ids = list(range(1, 401))
    evidence = evidence_for({i: {m: {"sent": float(rng.integers(0, 5)), "answered": float(rng.integers(0, 3))} for m in MEDIA} for i in ids})
    subsets = [(), ("email",), ("sms",), ("in_app",), ("email", "sms"), ("sms", "in_app"), ORDER]
    candidates = [Candidate(i, subsets[i % len(subsets)]) for i in ids]
    choices = choose_media(candidates, order=ORDER, evidence=evidence, priors=Priors(), seed=(3,), now=NOW)
    for candidate, choice in zip(candidates, choices, strict=True):
        if candidate.available:
            assert choice.medium in candidate.available and set(choice.estimates) == set(candidate.available)
        else:
            assert choice.medium is None
    assert any(c.explored for c in choices)  # exploring did happen, and still within what is available


def test_the_same_seed_replays_the_same_choices() -> None:
    ids = list(range(1, 201))
    evidence = evidence_for({i: {"email": {"sent": 1}, "sms": {"sent": 1}} for i in ids})
    candidates = [Candidate(i, ORDER) for i in ids]
    first = choose_media(candidates, order=ORDER, evidence=evidence, priors=Priors(), seed=(0, 5, 9, 1), now=NOW)
    again = choose_media(candidates, order=ORDER, evidence=evidence, priors=Priors(), seed=(0, 5, 9, 1), now=NOW)
    other = choose_media(candidates, order=ORDER, evidence=evidence, priors=Priors(), seed=(0, 5, 9, 2), now=NOW)
    assert first == again
    assert [c.medium for c in first] != [c.medium for c in other]
    assert len({c.medium for c in first}) == 3  # uncertain estimates: every medium gets tried


def test_exploring_is_said_in_the_reason() -> None:
    ids = list(range(1, 101))
    evidence = evidence_for({i: {"email": {"sent": 1}} for i in ids})
    choices = choose_media([Candidate(i, ("email", "sms")) for i in ids], order=ORDER, evidence=evidence, priors=Priors(), seed=(1,), now=NOW)
    explored = [c for c in choices if c.explored]
    assert explored and all(c.reason.startswith(f"{c.medium}: exploring (est.") for c in explored)


def test_ordered_takes_the_first_reachable_and_still_reports_estimates() -> None:
    evidence = evidence_for({1: {"sms": {"sent": 3, "answered": 3}, "email": {"sent": 3}}})
    [choice] = choose_media([Candidate(1, ("email", "sms"))], order=ORDER, evidence=evidence, priors=Priors(), mode="ordered", now=NOW)
    assert choice.medium == "email"
    assert choice.estimates["sms"] > choice.estimates["email"]
    assert choice.reason.startswith("email: ordered")


def test_a_reminder_counts_the_unanswered_invite_against_its_medium_even_when_everyone_likes_it() -> None:
    priors = everyone("admin", email={"sent": 40, "answered": 12})  # email works better than the cold-start guess
    evidence = evidence_for({1: {"email": {"sent": 1}}})
    invite_again = choose_media([Candidate(1, ("email", "sms"), role="admin")], order=ORDER, evidence=evidence, priors=priors, explore=False, now=NOW)
    reminder = choose_media([Candidate(1, ("email", "sms"), role="admin", unanswered="email")], order=ORDER, evidence=evidence, priors=priors, explore=False, now=NOW)
    assert invite_again[0].medium == "email"
    assert reminder[0].medium == "sms"


def test_exploring_stops_once_a_medium_is_answered() -> None:
    ids = list(range(1, 301))
    unanswered = evidence_for({i: {"email": {"sent": 1}} for i in ids})  # SMS never tried: worth a look
    answered = evidence_for({i: {"email": {"sent": 2}, "sms": {"sent": 2, "answered": 1}} for i in ids})
    candidates = [Candidate(i, ("email", "sms")) for i in ids]
    explored = {
        name: sum(c.explored for c in choose_media(candidates, order=ORDER, evidence=e, priors=Priors(), seed=(4,), now=NOW))
        for name, e in (("unanswered", unanswered), ("answered", answered))
    }
    assert explored["unanswered"] >= len(ids) // 10  # draws explore while nothing is known
    assert explored["answered"] <= len(ids) // 100  # one answer settles it: rarely sent elsewhere again


def test_one_answer_outweighs_a_medium_never_tried() -> None:
    # Answered one SMS of four: still better than the cold-start guess for email, which nobody tried on them.
    evidence = evidence_for({1: {"sms": {"sent": 4, "answered": 1}}})
    [choice] = choose_media([Candidate(1, ("email", "sms"))], order=ORDER, evidence=evidence, priors=Priors(), explore=False, now=NOW)
    assert choice.medium == "sms" and choice.reason.startswith("sms: answered 1 of 4 SMS")


def test_the_prior_is_learned_per_segment_and_falls_back_to_the_role() -> None:
    # Admins seen in the product within 3 days answer in-app prompts; admins seen 20 days ago do not.
    priors = Priors()
    priors.add(("admin", False, 0), "in_app", {"sent": 100, "answered": 60})
    priors.add(("admin", False, 2), "in_app", {"sent": 100, "answered": 2})
    priors.add(("admin", False, 2), "email", {"sent": 200, "answered": 40})
    daily = Candidate(1, ("email", "in_app"), role="admin", last_seen_at=NOW - timedelta(days=1))
    lapsed = Candidate(2, ("email", "in_app"), role="admin", last_seen_at=NOW - timedelta(days=20))
    weekly = Candidate(3, ("email", "in_app"), role="admin", last_seen_at=NOW - timedelta(days=6))  # no history of its own
    choices = choose_media([daily, lapsed, weekly], order=ORDER, evidence=Evidence.empty([1, 2, 3]), priors=priors, explore=False, now=NOW)
    assert [c.medium for c in choices] == ["in_app", "email", "in_app"]
    assert choices[0].estimates["in_app"] > 0.45 and choices[1].estimates["in_app"] < 0.08
    # Between the two: the admins' rate (62 of 200) shrunk towards everyone's.
    assert choices[1].estimates["in_app"] < choices[2].estimates["in_app"] < choices[0].estimates["in_app"]


def test_a_phone_number_is_a_segment_even_where_the_campaign_does_not_allow_sms() -> None:
    priors = Priors()
    priors.add(("user", True, 3), "email", {"sent": 100, "answered": 5})
    priors.add(("user", False, 3), "email", {"sent": 100, "answered": 40})
    with_phone = Candidate(1, ("email",), role="user", has_phone=True)
    without = Candidate(2, ("email",), role="user")  # None: taken from "sms" in available, so no phone
    choices = choose_media([with_phone, without], order=("email",), evidence=Evidence.empty([1, 2]), priors=priors, explore=False, now=NOW)
    assert choices[0].estimates["email"] < 0.15
    assert choices[1].estimates["email"] > 0.3
