"""Results of a campaign with known answers (tests/results/seed.py), checked against hand-computed values."""

from __future__ import annotations

import math

import pytest
from sqlalchemy.orm import Session

from campaigns.programs.kinds import kind_named
from campaigns.results import campaign_results
from campaigns.results.scores import score_from_counts
from dispatcher.runtime.core import Runtime
from tests.results.seed import TODAY, campaign, seed


@pytest.fixture
def results(runtime: Runtime, session: Session):
    seeded = seed(session)
    session.commit()
    return campaign_results(session, campaign=seeded.campaign, today=TODAY)


def test_headline_nps_with_its_margin_of_error(results) -> None:
    head = results.headline
    assert (head.answers, head.by_category) == (8, {"detractor": 3, "passive": 1, "promoter": 4})
    assert head.score == 12.5  # (4 − 3) / 8
    p, d = 4 / 8, 3 / 8
    assert head.margin == round(1.96 * math.sqrt((p + d - (p - d) ** 2) / 8) * 100, 1) == 64.2
    assert head.small  # 8 answers: flagged


def test_insights(results) -> None:
    ins = results.insights
    assert (ins.invited, ins.answered, ins.response_rate) == (10, 8, 80.0)
    assert (ins.accounts_invited, ins.accounts_answered, ins.account_coverage) == (4, 4, 100.0)
    assert (ins.comments, ins.comment_rate) == (5, 62.5)
    funnel = {c.medium: c for c in ins.channels}
    assert (funnel["email"].sent, funnel["email"].delivered, funnel["email"].opened, funnel["email"].clicked) == (7, 7, 7, 6)
    assert (funnel["email"].answered, funnel["email"].answer_rate) == (6, 85.7)
    assert (funnel["sms"].sent, funnel["sms"].delivered, funnel["sms"].answered, funnel["sms"].answer_rate) == (2, 2, 2, 100.0)


def test_segments_tiers_roles_and_renewal_windows(results) -> None:
    def scores(dimension: str) -> dict[str, tuple[int, float | None]]:
        return {g.name: (g.score.answers, g.score.score) for g in results.segments[dimension]}

    assert scores("segment") == {"enterprise": (4, 25.0), "smb": (2, 0.0), "unknown": (2, 0.0)}
    assert scores("tier") == {"gold": (4, 0.0), "silver": (2, 50.0), "unknown": (2, 0.0)}
    assert scores("role") == {"end_user": (5, -40.0), "executive": (3, 100.0)}
    assert scores("renewal") == {"within_90_days": (2, 0.0), "within_91_to_120_days": (2, 50.0), "later": (2, 0.0), "unknown": (2, 0.0)}
    assert [g.name for g in results.segments["renewal"]] == ["within_90_days", "within_91_to_120_days", "later", "unknown"]
    assert all(g.score.small for groups in results.segments.values() for g in groups)
    enterprise = results.segments["segment"][0]
    p, d = 2 / 4, 1 / 4  # c1, c3 promoters; c2 detractor
    assert enterprise.score.margin == round(1.96 * math.sqrt((p + d - (p - d) ** 2) / 4) * 100, 1)


def test_score_change_against_the_previous_campaign_and_the_trend(results) -> None:
    assert results.score_change == {"improved": 1, "same": 1, "worse": 1}
    improved, worse = results.score_change_lists["improved"], results.score_change_lists["worse"]
    assert [(r.previous_score, r.score) for r in improved] == [(6, 10)]
    assert [(r.previous_score, r.score) for r in worse] == [(9, 3)]
    assert [(p.name, p.score.score) for p in results.trend] == [("Autumn NPS", 33.3), ("Spring NPS", 12.5)]


def test_lists_to_act_on(results) -> None:
    lists = results.lists
    assert sorted(r.score for r in lists["advocates"]) == [9, 10] and all(r.comment for r in lists["advocates"])
    assert [(r.score, r.renewal_on.isoformat()) for r in lists["at_risk"]] == [(3, "2026-04-01")]
    assert [(r.score, r.renewal_on.isoformat()) for r in lists["upsell"]] == [(10, "2026-04-01"), (9, "2026-06-20")]
    assert results.list_totals == {"advocates": 2, "at_risk": 1, "upsell": 2}
    assert lists["at_risk"][0].owner_email is not None  # A1 has an owner to call


def test_recurring_themes_per_language(results) -> None:
    themes = {t.phrase.lower(): t for t in results.themes["en"]}
    assert themes["support"].comments == 3 and themes["support"].categories == {"promoter": 2, "detractor": 1}
    assert themes["billing"].comments == 2 and themes["billing"].categories == {"detractor": 2}


def test_no_answers_yet_is_not_a_score_of_zero(runtime: Runtime, session: Session) -> None:
    empty = campaign(session, name="Quiet")
    session.commit()
    result = campaign_results(session, campaign=empty, today=TODAY)
    assert result.headline.answers == 0 and result.headline.score is None and result.headline.margin is None
    assert result.as_dict()["headline"]["score"] is None


def test_csat_and_ces_margins() -> None:
    csat = score_from_counts(kind_named("csat"), n=4, total=0, squares=0, by_category={"unsatisfied": 1, "satisfied": 3})
    assert (csat.score, csat.margin) == (75.0, round(1.96 * math.sqrt(0.75 * 0.25 / 4) * 100, 1))
    scores = [2, 5, 6, 7]
    ces = score_from_counts(kind_named("ces"), n=4, total=sum(scores), squares=sum(s * s for s in scores), by_category={"hard": 1, "neutral": 0, "easy": 3})
    sd = math.sqrt(sum((s - 5) ** 2 for s in scores) / 3)
    assert (ces.score, ces.margin, ces.share_positive) == (5.0, round(1.96 * sd / 2, 2), 75.0)
