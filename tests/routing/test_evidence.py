"""Evidence as channel choice reads it: counters added once, old evidence decayed, one batch read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from campaigns.events.service import add_evidence
from dispatcher.routing import MEDIA, load_evidence, load_priors
from dispatcher.runtime.core import Runtime
from tests import factories
from tests.conftest import START


def test_evidence_half_a_life_old_weighs_half_and_counts_stay_whole(runtime: Runtime, session: Session) -> None:
    person = factories.contact(session)
    add_evidence(session, {(person.id, "sms"): {"sent": 2, "answered": 2}}, now=START - timedelta(days=180), half_life_days=180)
    add_evidence(session, {(person.id, "sms"): {"sent": 1}}, now=START, half_life_days=180)
    session.commit()
    evidence = load_evidence(session, [person.id], now=START, half_life_days=180)
    row, col = evidence.index[person.id], MEDIA.index("sms")
    assert evidence.counts["sent"][row, col] == 3 and evidence.counts["answered"][row, col] == 2
    assert evidence.weights["answered"][row, col] == pytest.approx(1.0)
    assert evidence.weights["sent"][row, col] == pytest.approx(2.0)  # 2 × ½ + 1
    later = load_evidence(session, [person.id], now=START + timedelta(days=360), half_life_days=180)
    assert later.weights["sent"][row, col] == pytest.approx(0.5)


def test_priors_sum_everyone_by_role(runtime: Runtime, session: Session) -> None:
    admin, finance = factories.contact(session, role="admin"), factories.contact(session, role="finance")
    add_evidence(session, {(admin.id, "email"): {"sent": 4, "answered": 1}, (finance.id, "email"): {"sent": 2}}, now=START, half_life_days=180)
    session.commit()
    priors = load_priors(session, now=START, half_life_days=180)
    col = MEDIA.index("email")
    assert priors.overall["sent"][col] == pytest.approx(6) and priors.overall["answered"][col] == pytest.approx(1)
    assert priors.by_role["admin"]["sent"][col] == pytest.approx(4) and priors.by_role["finance"]["answered"][col] == 0


def test_priors_sum_everyone_by_segment_of_role_phone_and_product_use(runtime: Runtime, session: Session) -> None:
    daily = factories.contact(session, role="admin", phone="+14155550100", last_seen_at=START - timedelta(days=1))
    lapsed = factories.contact(session, role="admin", last_seen_at=START - timedelta(days=20))
    never = factories.contact(session, role="admin")
    add_evidence(session, {
        (daily.id, "in_app"): {"sent": 3, "answered": 2}, (lapsed.id, "in_app"): {"sent": 2},
        (never.id, "email"): {"sent": 5, "answered": 1},
    }, now=START, half_life_days=180)
    session.commit()
    priors = load_priors(session, now=START, half_life_days=180)
    in_app, email = MEDIA.index("in_app"), MEDIA.index("email")
    assert priors.by_segment[("admin", True, 0)]["answered"][in_app] == pytest.approx(2)
    assert priors.by_segment[("admin", False, 2)]["sent"][in_app] == pytest.approx(2)  # seen 20 days ago: within 30
    assert priors.by_segment[("admin", False, 3)]["sent"][email] == pytest.approx(5)  # never seen
    assert priors.by_role["admin"]["sent"][in_app] == pytest.approx(5) and priors.overall["sent"][email] == pytest.approx(5)
