"""Issue 12: SendGrid event batches of 1,000 through Pulse, against a bare set-based apply, on PostgreSQL.

    .venv/bin/python bench/bench_events.py [--events 20000] [--batch 1000] [--rounds 2] [--contacts 10000]

A realistic mix per message (processed, delivered, opens, clicks; a few hard
bounces, drops, unsubscribes and spam reports), shuffled inside each batch,
3 % of events repeated inside their batch and every tenth batch redelivered
whole. Each round applies one fresh set of messages' events three ways, batch by batch in turn (so on a
shared machine each way meets the same load):

- Pulse: ``receive_sendgrid_events`` (what the webhook route calls), one
  session and one commit per batch;
- HTTP: ``POST /webhooks/sendgrid/events`` through the ASGI app in process,
  signed with ECDSA as SendGrid signs (verification included);
- bare: the same database work on a raw psycopg connection — keep each event
  once (INSERT … ON CONFLICT DO NOTHING RETURNING), lock and move the messages
  forward (one UPDATE … FROM), counters upserted grouped by contact,
  suppressions and the skips of messages queued to them — with the events'
  meaning looked up in a dict and no framework.

CPU is this process's (Pulse, the ASGI app and the bare loop all run here),
not PostgreSQL's.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from common import fresh_schema, settle
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr
from sqlalchemy import Row, text

from campaigns.db import driver_connection
from campaigns.events.decay import forward_weight
from campaigns.people.upsert import upsert_contacts
from dispatcher.answers.provider_events import receive_sendgrid_events
from dispatcher.runtime.core import build_runtime
from dispatcher.runtime.settings import Settings

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000, help="events per way per round (about)")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--contacts", type=int, default=10_000)
    args = parser.parse_args()
    with fresh_schema() as url:
        figures = run(url, args)
    for way in ("pulse", "http"):
        ratios = [f[way] / f["bare"] for f in figures]
        rates = [f[way] for f in figures]
        print(f"summary over {args.rounds} rounds: {way} {min(rates):,.0f}-{max(rates):,.0f} events/s, "
              f"bare {min(f['bare'] for f in figures):,.0f}-{max(f['bare'] for f in figures):,.0f} events/s, ratio {min(ratios):.2f}-{max(ratios):.2f}")


def run(url: str, args: argparse.Namespace) -> list[dict[str, float]]:
    der = KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    settings = Settings(environment="test", secret_key=SecretStr("bench-secret-key-0123456789-abcdefghij"), database_url=url,
                        public_url="https://pulse.example.com", clock="database", sendgrid_webhook_public_key=base64.b64encode(der).decode())
    runtime = build_runtime(settings)
    runtime.clock.set(NOW)  # type: ignore[attr-defined]
    per_message = 3.1  # events per message in the mix below, about
    messages_per_way = int(args.events / per_message)
    with runtime.sessions() as session:
        contacts = [{"external_id": f"c{i}", "name": f"Person {i}", "email": f"p{i}@example.com"} for i in range(args.contacts)]
        upsert_contacts(session, list(enumerate(contacts, 1)), now=NOW)
        total = messages_per_way * 3 * args.rounds
        seed_messages(session, total, args.contacts)
        session.commit()
        settle(url)
        rows = session.execute(text("SELECT id, recipient, provider_message_id FROM messages WHERE state = 'sent' ORDER BY id")).all()
    rng = random.Random(12)
    sets = [rows[i * messages_per_way:(i + 1) * messages_per_way] for i in range(3 * args.rounds)]
    from fastapi.testclient import TestClient

    from api.app import create_app

    figures = []
    with TestClient(create_app(settings, runtime=runtime, start_worker=False)) as client, runtime.engine.connect() as connection:
        raw = driver_connection(connection)
        for round_number in range(1, args.rounds + 1):
            pulse_set, http_set, bare_set = sets[3 * (round_number - 1):3 * round_number]
            figure: dict[str, float] = {}
            ways = {"pulse": lambda b: via_pulse(runtime, b), "http": lambda b: via_http(client, b), "bare": lambda b: via_bare(raw, b)}
            batches = {way: make_batches(chosen, args.batch, rng) for way, chosen in zip(ways, (pulse_set, http_set, bare_set))}
            gc.collect()
            gc.freeze()  # the bench's own input is no garbage for any way to scan
            seconds, cpu = dict.fromkeys(ways, 0.0), dict.fromkeys(ways, 0.0)
            # Batch by batch, the three ways in turn: on a shared machine each meets the same load.
            for index in range(max(len(b) for b in batches.values())):
                for way, apply in ways.items():
                    if index < len(batches[way]):
                        started, used = time.perf_counter(), time.process_time()
                        apply(batches[way][index])
                        seconds[way] += time.perf_counter() - started
                        cpu[way] += time.process_time() - used
            for way in ways:
                count = sum(len(b) for b in batches[way])
                figure[way] = count / seconds[way]
                print(f"round {round_number}: {way:5} {count:,} events in {len(batches[way])} batches: {seconds[way]:.2f} s = {figure[way]:,.0f} events/s; "
                      f"CPU {1e6 * cpu[way] / count:,.0f} µs/event", flush=True)
            print(f"round {round_number}: ratio Pulse / bare {figure['pulse'] / figure['bare']:.2f}; HTTP / bare {figure['http'] / figure['bare']:.2f}", flush=True)
            figures.append(figure)
    check(runtime)
    runtime.close()
    return figures


def seed_messages(session: Any, total: int, contacts: int) -> None:
    """A campaign with an episode per contact; its sent invites (one request id per 500, as Mail Send shares
    X-Message-Id) and a queued reminder for every tenth contact, which a bounce or unsubscribe skips."""
    session.execute(text(
        "INSERT INTO campaigns (id, name, kind, mode, status, survey, audience, exclusions, plan, sending_window, channels,"
        " internal_recipients, selection_state, created_at)"
        " VALUES (1, 'Bench', 'nps', 'one_off', 'active', '{}', '{}', '{}', '[]', '{}', '[\"email\"]', '[]', 'done', :now)"
    ), {"now": NOW})
    session.execute(text(
        "INSERT INTO episodes (public_id, campaign_id, contact_id, wave, state, created_at)"
        " SELECT 'bench-' || c.id, 1, c.id, 0, 'invited', :now FROM contacts c"
    ), {"now": NOW})
    session.execute(text(
        "INSERT INTO messages (idempotency_key, campaign_id, episode_id, contact_id, step, medium, channel, recipient, substitutions, state,"
        " attempts, provider_message_id, created_at, updated_at, sent_at)"
        " SELECT 'bench:' || g, 1, e.id, c.id, 'invite', 'email', 'sendgrid', c.email, '{}', 'sent', 1, 'xmsg' || (g / 500), :now, :now, :now"
        " FROM generate_series(1, :total) AS g JOIN contacts c ON c.external_id = 'c' || (g % :contacts) JOIN episodes e ON e.contact_id = c.id"
    ), {"now": NOW, "total": total, "contacts": contacts})
    session.execute(text(
        "INSERT INTO messages (idempotency_key, campaign_id, episode_id, contact_id, step, medium, channel, recipient, substitutions, state,"
        " attempts, not_before, created_at, updated_at)"
        " SELECT 'bench-reminder:' || c.id, 1, e.id, c.id, 'reminder', 'email', 'sendgrid', c.email, '{}', 'queued', 0, :now, :now, :now"
        " FROM contacts c JOIN episodes e ON e.contact_id = c.id WHERE c.id % 10 = 0"
    ), {"now": NOW})


def make_batches(messages: Sequence[Row[int, str, str]], size: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    for message_id, address, request_id in messages:
        def event(name: str, _id: int = message_id, _to: str = address, _request: str = request_id, **extra: Any) -> dict[str, Any]:
            return {"email": _to, "timestamp": 1772443800 + len(events), "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>", "event": name,
                    "category": ["campaign-1"], "sg_event_id": f"{_id}-{len(events)}-{rng.getrandbits(40):x}",
                    "sg_message_id": f"{_request}.filter0001.16648.5515E0B88.0", "pulse_campaign_id": "1", "pulse_message_id": str(_id), **extra}
        roll = rng.random()
        events.append(event("processed"))
        if roll < 0.02:
            events.append(event("bounce", type="bounce", status="5.1.1", reason="550 5.1.1 no such user"))
            continue
        if roll < 0.03:
            events.append(event("dropped", reason="Bounced Address"))
            continue
        events.append(event("delivered", response="250 OK"))
        if rng.random() < 0.55:
            events.append(event("open", sg_machine_open=rng.random() < 0.3, useragent="Mozilla/5.0", ip="192.0.2.1"))
            if rng.random() < 0.2:
                events.append(event("open", sg_machine_open=False, useragent="Mozilla/5.0", ip="192.0.2.1"))
            if rng.random() < 0.25:
                events.append(event("click", url="https://pulse.example.com/r/abc?score=9", useragent="Mozilla/5.0", ip="192.0.2.1"))
        if rng.random() < 0.005:
            events.append(event("unsubscribe"))
        elif rng.random() < 0.002:
            events.append(event("spamreport"))
    batches: list[list[dict[str, Any]]] = []
    for start in range(0, len(events), size):
        batch = events[start:start + size]
        batch += rng.sample(batch, len(batch) * 3 // 100)  # SendGrid sometimes sends an event twice
        rng.shuffle(batch)
        batches.append(batch)
        if len(batches) % 10 == 9:
            batches.append(list(batch))  # a whole batch again: our 200 was lost on the way back
    return batches


def via_pulse(runtime: Any, batch: list[dict[str, Any]]) -> None:
    with runtime.sessions() as session:
        receive_sendgrid_events(runtime, session, batch, now=NOW)
        session.commit()


def via_http(client: Any, batch: list[dict[str, Any]]) -> None:
    body = json.dumps(batch).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    response = client.post("/webhooks/sendgrid/events", content=body, headers={
        "X-Twilio-Email-Event-Webhook-Signature": signature, "X-Twilio-Email-Event-Webhook-Timestamp": stamp, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text


# -- the bare apply -------------------------------------------------------------------------

TARGET = {"processed": "sent", "delivered": "delivered", "open": "opened", "click": "clicked", "bounce": "failed", "dropped": "failed"}
RANK = {"unknown": -1, "sent": 0, "delivered": 1, "opened": 2, "clicked": 3, "answered": 4}
SUPPRESS = {"bounce": "bounced", "dropped": "bounced", "unsubscribe": "unsubscribed", "spamreport": "spam_report"}
LEVELS = ("delivered", "opened", "clicked")


def via_bare(raw: Any, batch: list[dict[str, Any]]) -> None:
    """The same database work, straight: four to six statements, one commit."""
    first: dict[str, dict[str, Any]] = {}
    for e in batch:
        first.setdefault(e["sg_event_id"], e)
    rows = [{"event_id": k, "event": e["event"], "address": e["email"], "message_id": int(e["pulse_message_id"]),
             "target_state": "delivered" if e["event"] == "open" and e.get("sg_machine_open") else TARGET.get(e["event"]),
             "bounced": e["event"] in ("bounce", "dropped"), "error_code": e.get("status") or ("dropped" if e["event"] == "dropped" else None),
             "detail": e.get("reason") or e.get("response") or e.get("url"), "occurred_at": datetime.fromtimestamp(e["timestamp"], UTC).isoformat()}
            for k, e in sorted(first.items())]
    with raw.cursor() as cursor:
        fresh = cursor.execute(
            "INSERT INTO provider_events (provider, event_id, event, medium, address, message_id, target_state, pending, bounced, error_code, detail, occurred_at, received_at)"
            " SELECT 'sendgrid', b.event_id, b.event, 'email', b.address, m.id, b.target_state, false, b.bounced, b.error_code, b.detail, b.occurred_at, %(now)s"
            " FROM jsonb_to_recordset(%(rows)s::jsonb) AS b(event_id text, event text, address text, message_id int, target_state text, bounced bool,"
            " error_code text, detail text, occurred_at timestamptz)"
            " LEFT JOIN messages m ON m.id = b.message_id AND m.medium = 'email' AND lower(m.recipient) = lower(b.address)"
            " ON CONFLICT (provider, event_id) DO NOTHING RETURNING message_id, target_state, bounced, error_code, detail, event, address",
            {"rows": json.dumps(rows), "now": NOW},
        ).fetchall()
        targets: dict[int, list[tuple[str, bool, str | None, str | None]]] = defaultdict(list)
        suppress: dict[str, str] = {}
        for message_id, target, bounced, code, detail, event, address in fresh:
            if message_id is not None and target is not None:
                targets[message_id].append((target, bounced, code, detail))
            if event in SUPPRESS:
                suppress.setdefault(address, SUPPRESS[event])
        locked = cursor.execute(
            "SELECT id, state, contact_id FROM messages WHERE id = ANY(%(ids)s) OR (episode_id = ANY(ARRAY(SELECT e.id FROM episodes e"
            " JOIN contacts c ON c.id = e.contact_id WHERE c.email = ANY(%(addresses)s))) AND medium = 'email' AND recipient = ANY(%(addresses)s)"
            " AND state IN ('queued', 'retrying')) ORDER BY id FOR UPDATE", {"ids": sorted(targets), "addresses": sorted(suppress)},
        ).fetchall()
        moves: list[dict[str, Any]] = []
        counts: defaultdict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # by contact id
        for message_id, state, contact_id in locked:
            found = targets.get(message_id)
            if not found or state not in RANK:
                continue
            best = max((t for t, *_ in found if t in RANK), key=RANK.get, default=state)  # type: ignore[arg-type]
            reached = best if RANK[best] > RANK[state] else state
            failure = next((f for f in found if f[0] == "failed"), None)
            end = "failed" if failure and RANK[reached] <= 1 else reached
            if end != state:
                moves.append({"id": message_id, "before": state, "state": end, "code": failure[2] if failure else None, "text": failure[3] if failure else None})
                c = counts[contact_id]
                for i, level in enumerate(LEVELS):
                    c[i] += RANK[state] < RANK[level] <= RANK[reached]
                c[3] += end == "failed" and failure is not None and failure[1]
        cursor.execute(
            "UPDATE messages m SET state = v.state, error_code = coalesce(v.code, m.error_code), error_text = coalesce(v.text, m.error_text), updated_at = %(now)s"
            " FROM jsonb_to_recordset(%(moves)s::jsonb) AS v(id int, before text, state text, code text, text text) WHERE m.id = v.id AND m.state = v.before",
            {"moves": json.dumps(moves), "now": NOW},
        )
        weight = forward_weight(NOW, 180.0)
        cursor.execute(
            "INSERT INTO engagement_counters (contact_id, medium, sent, delivered, opened, clicked, answered, dismissed, bounced, weight_sent,"
            " weight_opened, weight_clicked, weight_answered, weight_dismissed, weight_bounced, updated_at)"
            " SELECT c.contact_id, 'email', 0, c.d, c.o, c.c, 0, 0, c.b, 0, c.o * %(w)s, c.c * %(w)s, 0, 0, c.b * %(w)s, %(now)s"
            " FROM jsonb_to_recordset(%(counts)s::jsonb) AS c(contact_id int, d int, o int, c int, b int) ORDER BY c.contact_id"
            " ON CONFLICT (contact_id, medium) DO UPDATE SET delivered = engagement_counters.delivered + excluded.delivered,"
            " opened = engagement_counters.opened + excluded.opened, clicked = engagement_counters.clicked + excluded.clicked,"
            " bounced = engagement_counters.bounced + excluded.bounced, weight_opened = engagement_counters.weight_opened + excluded.weight_opened,"
            " weight_clicked = engagement_counters.weight_clicked + excluded.weight_clicked,"
            " weight_bounced = engagement_counters.weight_bounced + excluded.weight_bounced, updated_at = excluded.updated_at",
            {"counts": json.dumps([{"contact_id": k, "d": v[0], "o": v[1], "c": v[2], "b": v[3]} for k, v in sorted(counts.items()) if any(v)]),
             "w": weight, "now": NOW},
        )
        if suppress:
            skips = json.dumps([{"address": a, "reason": r} for a, r in sorted(suppress.items())])
            cursor.execute(
                "INSERT INTO suppressions (medium, address, reason, source, created_at) SELECT 'email', s.address, s.reason, 'sendgrid', %(now)s"
                " FROM jsonb_to_recordset(%(skips)s::jsonb) AS s(address text, reason text) ON CONFLICT (medium, address) DO NOTHING",
                {"skips": skips, "now": NOW},
            )
            cursor.execute(
                "UPDATE messages m SET state = 'skipped', skip_rule = 'suppressed', skip_reason = 'email: ' || s.reason, updated_at = %(now)s"
                " FROM jsonb_to_recordset(%(skips)s::jsonb) AS s(address text, reason text)"
                " WHERE m.episode_id = ANY(ARRAY(SELECT e.id FROM episodes e JOIN contacts c ON c.id = e.contact_id WHERE c.email = ANY(%(addresses)s)))"
                " AND m.medium = 'email' AND m.recipient = s.address AND m.state IN ('queued', 'retrying')",
                {"skips": skips, "now": NOW, "addresses": sorted(suppress)},
            )
    raw.commit()


def check(runtime: Any) -> None:
    """Pulse and the bare apply did the same: every message moved, reminders to suppressed addresses skipped."""
    with runtime.sessions() as session:
        states = dict(session.execute(text("SELECT state, count(*) FROM messages GROUP BY state")).all())
        print(f"message states after every round: {states}")


if __name__ == "__main__":
    main()
