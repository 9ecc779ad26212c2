"""Issue 10: a 100,000-answer campaign's results served from PostgreSQL.

    .venv/bin/python bench/bench_results.py [--answers 100000] [--runs 5]
    (PULSE_BENCH_DATABASE_URL picks the server; default postgresql+psycopg://postgres@127.0.0.1:5432/test)

A fresh schema; ``--answers`` contacts in accounts of 20 (segments, tiers, renewal
dates spread over a year, a fifth unknown), roles executive/end user, locales en
and de. One NPS campaign where every contact was invited (an email or SMS invite
each) and answered, 40 % with a comment; an earlier NPS campaign where a third of
them answered, for score change and trend. Seeded with INSERT … SELECT.

Then, interleaved ``--runs`` times: ``GET /v1/campaigns/{id}/results`` through the
app (in-process ASGI client: routing, auth, the domain's queries, JSON), and a bare
baseline: the same aggregates as hand-written SQL on one connection, rows fetched
and nothing else. Prints median wall time and this process's CPU time for each,
the ratio, and per answer. The database server's own CPU is not in "CPU".
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from common import fresh_schema, peak_rss_mb, settle
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from campaigns.access.models import Role
from campaigns.access.service import create_key
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)

SEED = [
    """INSERT INTO team_members (name, email, active, console_role, created_at)
       SELECT 'CSM ' || n, 'csm' || n || '@example.com', true, 'ops', :now FROM generate_series(1, 20) n""",
    """INSERT INTO accounts (external_id, name, segment, tier, plan, lifecycle_stage, created_on, renewal_on, owner_id, attributes, created_at, updated_at)
       SELECT 'a' || n, 'Account ' || n, (ARRAY['enterprise','mid-market','smb'])[1 + n % 3], (ARRAY['gold','silver','bronze','free'])[1 + n % 4],
              'pro', 'active', DATE '2024-01-01', CASE WHEN n % 5 = 0 THEN NULL ELSE DATE '2026-03-01' + (n * 37 % 365) END,
              1 + n % 20, '{}', :now, :now
       FROM generate_series(1, :accounts) n""",
    """INSERT INTO contacts (external_id, account_id, name, email, role, locale, timezone, attributes, created_at, updated_at)
       SELECT 'c' || n, 1 + n % :accounts, 'Person ' || n, 'p' || n || '@example.com',
              CASE WHEN n % 7 = 0 THEN 'executive' ELSE 'end_user' END, CASE WHEN n % 4 = 0 THEN 'de' ELSE 'en' END,
              'Europe/Berlin', '{}', :now, :now
       FROM generate_series(1, :answers) n""",
    """INSERT INTO campaigns (name, kind, mode, status, survey, audience, exclusions, plan, sending_window, channels, internal_recipients,
                              selection_state, created_at, launched_at, send_at)
       VALUES ('Autumn NPS', 'nps', 'one_off', 'closed', '{}', '{}', '{}', '[]', '{}', '["email"]', '{}', 'done', :earlier, :earlier, :earlier),
              ('Spring NPS', 'nps', 'one_off', 'active', '{}', '{}', '{}', '[]', '{}', '["email","sms"]', '{}', 'done', :launched, :launched, :launched)""",
    """INSERT INTO episodes (public_id, campaign_id, contact_id, wave, state, created_at, invited_at, answered_at)
       SELECT md5(c.id::text || '-' || k.id), k.id, c.id, 0, 'answered', k.launched_at, k.launched_at, k.launched_at + interval '1 day'
       FROM contacts c CROSS JOIN campaigns k WHERE k.name = 'Spring NPS' OR c.id % 3 = 0""",
    """INSERT INTO responses (episode_id, campaign_id, contact_id, account_id, kind, score, category, comment, medium, current, created_at)
       SELECT e.id, e.campaign_id, e.contact_id, c.account_id, 'nps', s.score,
              CASE WHEN s.score >= 9 THEN 'promoter' WHEN s.score >= 7 THEN 'passive' ELSE 'detractor' END,
              CASE WHEN e.contact_id % 5 < 2 THEN (CASE WHEN c.locale = 'de'
                   THEN (ARRAY['Der Support war schnell und freundlich','Die Rechnung ist zu kompliziert','Onboarding hat lange gedauert','Gute Berichte, langsame Oberfläche'])[1 + e.contact_id % 4]
                   ELSE (ARRAY['Support team was quick and friendly','Billing is confusing and expensive','Onboarding took too long','Great reports but the dashboard is slow','Pricing went up again'])[1 + e.contact_id % 5] END) END,
              CASE WHEN e.contact_id % 4 = 1 THEN 'sms' ELSE 'email' END, true, e.answered_at + (e.contact_id % 1000) * interval '1 second'
       FROM episodes e JOIN contacts c ON c.id = e.contact_id
       CROSS JOIN LATERAL (SELECT ((e.contact_id * 7 + e.campaign_id * 3) % 11) AS score) s""",
    """INSERT INTO messages (idempotency_key, campaign_id, episode_id, contact_id, step, medium, channel, state, substitutions, attempts, created_at, updated_at)
       SELECT 'bench:' || e.id, e.campaign_id, e.id, e.contact_id, 'invite', CASE WHEN e.contact_id % 4 = 1 THEN 'sms' ELSE 'email' END, 'outbox',
              (ARRAY['delivered','opened','clicked','answered','sent'])[1 + e.contact_id % 5], '{}', 1, :now, :now
       FROM episodes e""",
]

# The same aggregates the results make, as plain SQL: what the database must do at the least.
RENEWAL = ("CASE WHEN a.renewal_on IS NULL THEN 'unknown' WHEN a.renewal_on < DATE '2026-03-02' THEN 'passed' "
           "WHEN a.renewal_on <= DATE '2026-05-31' THEN 'within_90' WHEN a.renewal_on <= DATE '2026-06-30' THEN 'within_120' ELSE 'later' END")
PREVIOUS = """(SELECT contact_id, score, category FROM (SELECT contact_id, score, category,
                  row_number() OVER (PARTITION BY contact_id ORDER BY created_at DESC, id DESC) AS n
              FROM responses WHERE kind='nps' AND current AND campaign_id<>:c AND created_at < DATE '2026-02-20') q WHERE n = 1)"""
COLUMNS = ("SELECT r.id, r.created_at, r.score, r.category, r.comment, r.medium, k.id, k.external_id, k.name, k.email, k.role, k.locale, "
           "a.external_id, a.name, a.segment, a.tier, a.renewal_on, o.email, f.state, f.notes")
ROW = (f"{COLUMNS} FROM responses r JOIN contacts k ON k.id=r.contact_id "
       "LEFT JOIN accounts a ON a.id=r.account_id LEFT JOIN team_members o ON o.id=a.owner_id LEFT JOIN follow_ups f ON f.episode_id=r.episode_id ")
# The same aggregates and rows the results read, as plain SQL on one connection: what the database must do at the least.
BASELINE = [
    f"""SELECT coalesce(a.segment,'unknown'), coalesce(a.tier,'unknown'), coalesce(k.role,'unknown'), {RENEWAL}, count(*), sum(r.score), sum(r.score*r.score),
           sum((r.category='detractor')::int), sum((r.category='passive')::int), sum((r.category='promoter')::int)
       FROM responses r JOIN contacts k ON k.id=r.contact_id LEFT JOIN accounts a ON a.id=r.account_id WHERE r.campaign_id=:c AND r.current GROUP BY 1, 2, 3, 4""",
    "SELECT score, count(*) FROM responses WHERE campaign_id=:c AND current GROUP BY score",
    "SELECT count(e.id), count(DISTINCT k.account_id) FROM episodes e JOIN contacts k ON k.id=e.contact_id WHERE e.campaign_id=:c AND e.invited_at IS NOT NULL",
    "SELECT count(*), count(DISTINCT account_id), sum((comment IS NOT NULL AND comment <> '')::int) FROM responses WHERE campaign_id=:c AND current",
    ("SELECT medium, sum((state IN ('sent','delivered','opened','clicked','answered'))::int), sum((state IN ('delivered','opened','clicked','answered'))::int), "
    "sum((state IN ('opened','clicked','answered'))::int), sum((state IN ('clicked','answered'))::int) FROM messages WHERE campaign_id=:c AND step IN ('invite','reminder') GROUP BY medium"),
    "SELECT medium, count(*) FROM responses WHERE campaign_id=:c AND current GROUP BY medium",
    f"""{COLUMNS}, m.score, m.category, m.movement, m.total FROM (SELECT r.id AS rid, p.score, p.category, sign(cr.n - cp.n) AS movement,
           row_number() OVER (PARTITION BY sign(cr.n - cp.n) ORDER BY r.id) AS n, count(*) OVER (PARTITION BY sign(cr.n - cp.n)) AS total
         FROM responses r JOIN {PREVIOUS} p ON p.contact_id=r.contact_id
         JOIN (VALUES ('detractor', 0), ('passive', 1), ('promoter', 2)) cr(c, n) ON cr.c = r.category
         JOIN (VALUES ('detractor', 0), ('passive', 1), ('promoter', 2)) cp(c, n) ON cp.c = p.category
         WHERE r.campaign_id=:c AND r.current) m JOIN responses r ON r.id = m.rid JOIN contacts k ON k.id=r.contact_id
       LEFT JOIN accounts a ON a.id=r.account_id LEFT JOIN team_members o ON o.id=a.owner_id LEFT JOIN follow_ups f ON f.episode_id=r.episode_id
       WHERE (m.n <= 25 AND m.movement <> 0) OR m.n = 1 ORDER BY m.movement, m.n""",
    "SELECT k.id, count(r.id), sum((r.category='promoter')::int), sum((r.category='detractor')::int) FROM campaigns k JOIN responses r ON r.campaign_id=k.id AND r.current WHERE k.kind='nps' GROUP BY k.id",
    f"{ROW} WHERE r.campaign_id=:c AND r.current AND r.category='promoter' AND r.comment <> '' ORDER BY r.score DESC, r.created_at DESC LIMIT 25",
    f"{ROW} WHERE r.campaign_id=:c AND r.current AND r.category='detractor' AND a.renewal_on BETWEEN DATE '2026-03-02' AND DATE '2026-05-31' ORDER BY a.renewal_on, r.score LIMIT 25",
    f"{ROW} WHERE r.campaign_id=:c AND r.current AND r.category='promoter' AND a.renewal_on BETWEEN DATE '2026-03-02' AND DATE '2026-06-30' ORDER BY a.renewal_on, r.score DESC LIMIT 25",
    ("SELECT sum((r.category='promoter' AND r.comment <> '')::int), sum((r.category='detractor' AND a.renewal_on BETWEEN DATE '2026-03-02' AND DATE '2026-05-31')::int), "
    "sum((r.category='promoter' AND a.renewal_on BETWEEN DATE '2026-03-02' AND DATE '2026-06-30')::int) FROM responses r LEFT JOIN accounts a ON a.id=r.account_id WHERE r.campaign_id=:c AND r.current"),
    "SELECT k.locale, r.comment, r.category FROM responses r JOIN contacts k ON k.id=r.contact_id WHERE r.campaign_id=:c AND r.current AND r.comment <> '' ORDER BY r.created_at DESC LIMIT 3200",
]


def measure(run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def parts(runtime: object, campaign_id: int) -> None:
    """Wall time of each part of the results, to see where the time goes."""
    from campaigns.programs.kinds import kind_named
    from campaigns.programs.models import Campaign
    from campaigns.results import breakdowns, campaign_results, insights, people, themes

    with runtime.sessions() as session:  # type: ignore[attr-defined]
        campaign = session.get(Campaign, campaign_id)
        kind, today = kind_named("nps"), NOW.date()
        steps: dict[str, Callable[[], object]] = {
            "headline + breakdowns": lambda: breakdowns.breakdowns(session, campaign=campaign, kind=kind, today=today),
            "distribution": lambda: breakdowns.score_distribution(session, campaign_id=campaign_id),
            "insights": lambda: insights.insights(session, campaign_id=campaign_id),
            "score change": lambda: people.score_change(session, campaign=campaign, kind=kind, limit=25),
            "trend": lambda: breakdowns.trend(session, campaign=campaign, kind=kind),
            "lists": lambda: [people.action_list(session, campaign_id=campaign_id, kind=kind, name=n, today=today, limit=25) for n in people.LIST_NAMES],
            "list totals": lambda: people.list_totals(session, campaign_id=campaign_id, kind=kind, today=today),
            "themes": lambda: themes.themes_by_language(session, campaign_id=campaign_id),
            "all: campaign_results": lambda: campaign_results(session, campaign=campaign, today=today).as_dict(),
        }
        for name, step in steps.items():
            step()
            wall, cpu = measure(step)
            print(f"  {name:22s} wall {wall * 1000:6.0f} ms  CPU {cpu * 1000:6.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parts", action="store_true", help="also time each part of the results on its own")
    args = parser.parse_args()
    from api.app import create_app

    with fresh_schema() as url:
        settings = Settings(environment="test", secret_key=SecretStr("bench-secret-key-0123456789-abcdefghij"), database_url=url, clock="system")
        runtime = build_runtime(settings)
        seeded = time.perf_counter()
        with runtime.engine.begin() as connection:
            values = {"now": NOW, "accounts": max(1, args.answers // 20), "answers": args.answers,
                      "earlier": datetime(2025, 9, 1, tzinfo=UTC), "launched": datetime(2026, 2, 20, tzinfo=UTC)}
            for statement in SEED:
                connection.execute(text(statement), values)
        settle(url)
        with runtime.engine.connect() as connection:
            campaign_id = connection.scalar(text("SELECT id FROM campaigns WHERE name = 'Spring NPS'"))
            answers = connection.scalar(text("SELECT count(*) FROM responses WHERE campaign_id = :c"), {"c": campaign_id})
        print(f"seeded {answers:,} answers (+ an earlier campaign) in {time.perf_counter() - seeded:.1f} s")
        with runtime.sessions() as session, session.begin():
            token = create_key(session, role=Role.VIEWER, name="bench", now=NOW).token
        headers = {"Authorization": f"Bearer {token}"}
        if args.parts:
            parts(runtime, campaign_id)

        with TestClient(create_app(settings, runtime=runtime, start_worker=False)) as client:
            def endpoint() -> None:
                response = client.get(f"/v1/campaigns/{campaign_id}/results", headers=headers)
                assert response.status_code == 200 and response.json()["headline"]["answers"] == answers

            def baseline() -> None:
                with runtime.engine.connect() as connection:
                    for statement in BASELINE:
                        connection.execute(text(statement), {"c": campaign_id}).all()

            endpoint()  # warm caches and compiled statements on both sides
            baseline()
            ours, bare = [], []
            for _ in range(args.runs):
                ours.append(measure(endpoint))
                bare.append(measure(baseline))
        runtime.close()

    def median(rows: list[tuple[float, float]], index: int) -> float:
        return statistics.median(r[index] for r in rows)

    wall, cpu, bare_wall, bare_cpu = median(ours, 0), median(ours, 1), median(bare, 0), median(bare, 1)
    print(f"GET /v1/campaigns/{{id}}/results: wall {wall * 1000:7.0f} ms  CPU {cpu * 1000:6.0f} ms  ({wall / answers * 1e6:.2f} µs wall, {cpu / answers * 1e6:.2f} µs CPU per answer)")
    print(f"bare SQL, same aggregates:        wall {bare_wall * 1000:7.0f} ms  CPU {bare_cpu * 1000:6.0f} ms  ({bare_wall / answers * 1e6:.2f} µs wall per answer)")
    print(f"ratio endpoint / bare SQL: {wall / bare_wall:.2f} (wall), medians of {args.runs} interleaved runs; peak RSS {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
