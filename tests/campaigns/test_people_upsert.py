"""Bulk upsert of accounts and contacts by external id."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.people.models import Account, Contact
from campaigns.people.upsert import upsert_accounts, upsert_contacts
from dispatcher.runtime.core import Runtime
from tests import factories


def rows(*items: dict) -> list[tuple[int, dict]]:
    return list(enumerate(items, start=1))


def test_insert_then_update_by_external_id_makes_no_duplicates(runtime: Runtime, session: Session) -> None:
    now = runtime.clock.now()
    first = upsert_contacts(session, rows({"external_id": "c1", "email": "a@example.com", "name": "Ana"}), now=now)
    again = upsert_contacts(session, rows({"external_id": "c1", "email": "ana@example.com"}), now=now)
    session.commit()

    assert (first.inserted, first.updated) == (1, 0)
    assert (again.inserted, again.updated) == (0, 1)
    assert session.scalar(select(func.count()).select_from(Contact)) == 1
    contact = session.scalars(select(Contact)).one()
    assert contact.email == "ana@example.com"
    assert contact.name == "Ana"  # not named in the second row, so kept


def test_new_contact_gets_default_locale_and_timezone(runtime: Runtime, session: Session) -> None:
    upsert_contacts(session, rows({"external_id": "c1"}), now=runtime.clock.now())
    contact = session.scalars(select(Contact)).one()
    assert (contact.locale, contact.timezone) == ("en", "UTC")


def test_bad_rows_are_reported_and_good_rows_kept(runtime: Runtime, session: Session) -> None:
    factories.account(session, external_id="acme")
    result = upsert_contacts(
        session,
        rows(
            {"external_id": "good", "account_external_id": "acme", "phone": "+4930901820"},
            {"external_id": "bad-email", "email": "not-an-email"},
            {"external_id": "bad-phone", "phone": "call me"},
            {"external_id": "bad-tz", "timezone": "Mars/Olympus"},
            {"external_id": "bad-locale", "locale": "xx-QQ"},
            {"external_id": "no-account", "account_external_id": "ghost"},
        ),
        now=runtime.clock.now(),
    )
    session.commit()

    assert result.inserted == 1
    assert [(e.row, e.external_id, e.field) for e in result.errors] == [
        (2, "bad-email", "email"), (3, "bad-phone", "phone"), (4, "bad-tz", "timezone"),
        (5, "bad-locale", "locale"), (6, "no-account", "account_external_id"),
    ]
    assert "ghost" in result.errors[-1].reason
    assert session.scalars(select(Contact.external_id)).all() == ["good"]
    assert session.scalar(select(Contact.phone)) == "+4930901820"


def test_attributes_merge_and_later_duplicate_rows_win(runtime: Runtime, session: Session) -> None:
    now = runtime.clock.now()
    upsert_contacts(session, rows({"external_id": "c1", "attributes": {"plan_seats": 5, "region": "emea"}}), now=now)
    upsert_contacts(
        session,
        rows({"external_id": "c1", "attr.region": "apac"}, {"external_id": "c1", "role": "billing"}),
        now=now,
    )
    contact = session.scalars(select(Contact)).one()
    assert contact.attributes == {"plan_seats": 5, "region": "apac"}
    assert contact.role == "billing"


def test_account_upsert_links_owner_and_requires_a_name_when_new(runtime: Runtime, session: Session) -> None:
    owner = factories.team_member(session, email="owner@example.com")
    result = upsert_accounts(
        session,
        rows(
            {"external_id": "a1", "name": "Acme", "owner_email": "owner@example.com", "renewal_on": "2026-06-30"},
            {"external_id": "a2"},
            {"external_id": "a3", "name": "X", "owner_email": "nobody@example.com"},
        ),
        now=runtime.clock.now(),
    )
    assert result.inserted == 1
    assert sorted((e.row, e.external_id, e.field) for e in result.errors) == [(2, "a2", "name"), (3, "a3", "owner_email")]
    account = session.scalars(select(Account)).one()
    assert account.owner_id == owner.id
    assert str(account.renewal_on) == "2026-06-30"



def test_rows_checked_against_stored_ones_are_reported_in_row_order_with_their_reasons(runtime: Runtime, session: Session) -> None:
    now = runtime.clock.now()
    upsert_accounts(session, rows({"external_id": "old", "name": "Old"}, {"external_id": "same", "name": "Same", "tier": "gold"}), now=now)
    upsert_contacts(session, rows({"external_id": "full", "attributes": {f"a{i}": i for i in range(60)}},
                                  {"external_id": "kept", "name": "Kim", "attributes": {"seats": 5}}), now=now)
    accounts = upsert_accounts(
        session,
        rows(
            {"external_id": "new"},  # no name: a new account needs one
            {"external_id": "old", "name": " "},  # blanks the stored name
            {"external_id": "same", "name": "Same"},  # as stored
            {"external_id": "old2", "tier": "silver"},  # new, no name either
            {"external_id": "same", "tier": "gold"},  # merged with row 3: still as stored
        ),
        now=now,
    )
    contacts = upsert_contacts(
        session,
        rows(
            {"external_id": "kept", "attributes": {"seats": 5}},  # a subset of the stored attributes: unchanged
            {"external_id": "full", "attributes": {f"b{i}": i for i in range(50)}},  # 60 stored + 50 given
            {"external_id": "kept", "name": "Kim"},  # merged with row 1: still unchanged
            {"external_id": "fresh", "attributes": {"seats": 1}},
        ),
        now=now,
    )
    session.commit()

    assert [(e.row, e.external_id, e.field, e.reason) for e in accounts.errors] == [
        (1, "new", "name", "is required for a new account"),
        (2, "old", "name", "may not be blank: every account has one"),
        (4, "old2", "name", "is required for a new account"),
    ]
    assert (accounts.inserted, accounts.updated, accounts.unchanged) == (0, 0, 1)
    assert [(e.row, e.external_id, e.field, e.reason) for e in contacts.errors] == [
        (2, "full", "attributes", "would hold 110 attributes; at most 100 per contact"),
    ]
    assert (contacts.inserted, contacts.updated, contacts.unchanged) == (1, 0, 1)
    assert session.scalar(select(Account.name).where(Account.external_id == "old")) == "Old"
    assert len(session.scalars(select(Contact.attributes).where(Contact.external_id == "full")).one()) == 60
    assert session.scalar(select(Contact.attributes).where(Contact.external_id == "fresh")) == {"seats": 1}


def test_a_row_naming_an_unknown_account_is_dropped_before_rows_for_the_same_contact_merge(runtime: Runtime, session: Session) -> None:
    factories.account(session, external_id="acme")
    header = ("external_id", "account_external_id", "name", "attr.plan")
    result = upsert_contacts(
        session,
        [(1, ["c1", "acme", "Ana", "pro"]), (2, ["c1", "ghost", "Bea", "free"]), (3, ["c2", "ghost", "Cy", ""]),
         (4, ["c3", "", "Di", ""]), (5, ["c1", "acme", "", "team"]), (6, ["c4", "nobody", "Ed", ""]),
         (7, ["c5", "gone", "Fay", "old"]), (8, ["c5", "acme", "Fay", ""])],  # row 8 replaces row 7's unknown account
        now=runtime.clock.now(), columns=header,
    )
    session.commit()

    assert [(e.row, e.external_id, e.field, e.reason) for e in result.errors] == [
        (2, "c1", "account_external_id", "no account with external id 'ghost'; import accounts first"),
        (3, "c2", "account_external_id", "no account with external id 'ghost'; import accounts first"),
        (6, "c4", "account_external_id", "no account with external id 'nobody'; import accounts first"),
        (7, "c5", "account_external_id", "no account with external id 'gone'; import accounts first"),
    ]
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    stored = {c.external_id: (c.account.external_id if c.account else None, c.name, c.attributes) for c in session.scalars(select(Contact))}
    assert stored == {"c1": ("acme", None, {"plan": "team"}), "c3": (None, "Di", {}), "c5": ("acme", "Fay", {})}

def test_a_csv_line_and_a_json_object_get_the_same_values_and_every_error_in_field_order() -> None:
    from campaigns.people.rows import clean_contact_row, contact_cleaner

    row = {"external_id": "", "email": "nope", "phone": "12ab", "locale": "zz", "timezone": "Moon/Base",
           "attr.seats": "", "attr.x": "1", "role": "r" * 101}
    expected = ({"attributes": {"x": "1"}}, [
        "external_id: is required",
        "email: not a valid email address (An email address must have an @-sign.)",
        "phone: '12ab' is not a phone number in international form, such as +14155550100",
        "role: longer than 100 characters",
        "locale: unknown locale 'zz'; use a language code such as en or de-AT",
        "timezone: unknown timezone 'Moon/Base'; use an IANA name such as Europe/Berlin",
    ])
    good = {"external_id": " c1 ", "email": "A@Example.COM", "phone": "+14155550100", "locale": "", "timezone": "",
            "attr.seats": " 5 ", "attr.x": "", "role": ""}
    cleaned = {"external_id": "c1", "email": "A@example.com", "phone": "+14155550100", "role": None, "locale": "en", "timezone": "UTC",
               "attributes": {"seats": "5"}}
    for raw, (values, errors) in ((row, expected), (good, (cleaned, []))):
        for got in (clean_contact_row(raw), contact_cleaner(tuple(raw))(list(raw.values()))):
            assert (got[0], [str(e) for e in got[1]]) == (values, errors)


def test_a_row_the_database_refuses_fails_the_upsert_with_the_databases_own_error(runtime: Runtime, session: Session) -> None:
    from campaigns.people.upsert import BATCH_SIZE

    # PostgreSQL's jsonb cannot hold U+0000; SQLite stores it. On PostgreSQL the error raised is the
    # database's, from the batch that holds the row (the first of three here: batches after it are still
    # read), not one from cleaning up after it.
    items = [{"external_id": f"c{i}", "attributes": {"note": "a\x00b" if i == 3 else "x"}} for i in range(3 * BATCH_SIZE)]
    if session.get_bind().dialect.name == "postgresql":
        from psycopg.errors import DataError

        with pytest.raises(DataError):
            upsert_contacts(session, rows(*items), now=runtime.clock.now())
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Contact)) == 0
    else:
        assert upsert_contacts(session, rows(*items), now=runtime.clock.now()).inserted == 3 * BATCH_SIZE


def test_a_contact_in_several_batches_is_compared_with_what_the_batch_before_wrote(runtime: Runtime, session: Session) -> None:
    from campaigns.people.upsert import BATCH_SIZE

    # Each batch is looked up while the next is cleaned; a contact in batches 1, 2 and 4 must be
    # compared with what the batch before it wrote (attributes merged, an unchanged row counted).
    fillers = iter(range(10 * BATCH_SIZE))

    def batch(*contact: dict) -> list[dict]:
        return [*contact, *({"external_id": f"f{next(fillers)}"} for _ in range(BATCH_SIZE - len(contact)))]

    items = [*batch({"external_id": "c1", "name": "Ana", "attributes": {"plan": "pro"}}),
             *batch({"external_id": "c1", "attributes": {"seats": 5}}),
             *batch(),
             *batch({"external_id": "c1", "name": "Ana", "attributes": {"plan": "pro"}}, {"external_id": "c1", "name": "Bea"})]
    result = upsert_contacts(session, rows(*items), now=runtime.clock.now())
    session.commit()

    assert (result.inserted, result.updated, result.unchanged, result.errors) == (4 * BATCH_SIZE - 3, 2, 0, [])
    assert session.execute(select(Contact.name, Contact.attributes).where(Contact.external_id == "c1")).one() == ("Bea", {"plan": "pro", "seats": 5})
    again = upsert_contacts(session, rows(*batch(), {"external_id": "c1", "attributes": {"seats": 5}}), now=runtime.clock.now())
    assert (again.inserted, again.updated, again.unchanged) == (BATCH_SIZE, 0, 1)


@pytest.mark.parametrize(("kept", "names_looked_up"), [(100_000, 7 + 1 + 1), (4, 3 * 7)])
def test_accounts_found_for_one_batch_are_used_by_later_ones(
    runtime: Runtime, session: Session, monkeypatch: pytest.MonkeyPatch, kept: int, names_looked_up: int,
) -> None:
    from campaigns.people import upsert

    # Ids of accounts found for a batch are kept for the next ones (up to KNOWN_REFERENCES, then
    # forgotten and looked up again); a name no account has is looked up and reported in every batch.
    monkeypatch.setattr(upsert, "KNOWN_REFERENCES", kept)
    sent: list[str] = []
    look_up = upsert._lookup

    def counted(session: Session, key: object, value: object, wanted: set[str]) -> dict[str, int]:
        sent.extend(wanted)
        return look_up(session, key, value, wanted)

    monkeypatch.setattr(upsert, "_lookup", counted)
    ids = {f"a{i}": factories.account(session, external_id=f"a{i}").id for i in range(6)}
    names = [*ids, "ghost"]
    items = [{"external_id": f"c{i}", "account_external_id": names[(i // 7) % len(names)]} for i in range(3 * upsert.BATCH_SIZE)]
    result = upsert_contacts(session, rows(*items), now=runtime.clock.now())
    session.commit()

    assert len(sent) == names_looked_up  # 7 names in every batch: all, then only "ghost" (or all again, forgotten)
    ghosts = [number for number, item in rows(*items) if item["account_external_id"] == "ghost"]
    assert [e.row for e in result.errors] == ghosts
    assert {e.reason for e in result.errors} == {"no account with external id 'ghost'; import accounts first"}
    stored = dict(session.execute(select(Contact.external_id, Contact.account_id)).all())
    assert stored == {item["external_id"]: ids[item["account_external_id"]] for item in items if item["account_external_id"] != "ghost"}


def test_the_switch_interval_is_short_only_while_an_upsert_of_several_batches_runs_on_postgresql(
    runtime: Runtime, session: Session, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from campaigns.people import upsert

    seen: list[float] = []
    clean = upsert._clean

    def noted(*args: Any) -> Any:
        seen.append(sys.getswitchinterval())
        return clean(*args)

    monkeypatch.setattr(upsert, "_clean", noted)
    interval = sys.getswitchinterval()
    upsert_contacts(session, rows(*({"external_id": f"c{i}"} for i in range(3))), now=runtime.clock.now())
    one_batch, seen[:] = list(seen), []
    upsert_contacts(session, rows(*({"external_id": f"d{i}"} for i in range(3 * upsert.BATCH_SIZE))), now=runtime.clock.now())

    assert one_batch == pytest.approx([interval])
    several = upsert.SWITCH_INTERVAL if session.get_bind().dialect.name == "postgresql" else interval
    assert seen == pytest.approx([interval, interval, several])  # shortened once a second batch is cleaned, while the first is written
    assert sys.getswitchinterval() == interval  # and put back


def test_the_same_rows_again_are_unchanged_whatever_their_types(runtime: Runtime, session: Session) -> None:
    # Stored values are read back to compare (on PostgreSQL straight from the driver): dates, an
    # aware time given in another zone, JSON attributes and references must compare equal to the rows.
    now = runtime.clock.now()
    factories.team_member(session, email="owner@example.com")
    accounts = [{"external_id": "a1", "name": "Acme", "created_on": "2024-05-01", "renewal_on": "2026-12-31",
                 "owner_email": "owner@example.com", "attributes": {"seats": 5, "tags": ["x"]}}]
    contacts = [{"external_id": "c1", "account_external_id": "a1", "name": "Ana", "email": "ana@example.com", "phone": "+14155550100",
                 "last_seen_at": "2026-11-20T10:00:00+01:00", "attributes": {"plan": "pro", "nps": 9}}]
    first = (upsert_accounts(session, rows(*accounts), now=now), upsert_contacts(session, rows(*contacts), now=now))
    session.commit()
    again = (upsert_accounts(session, rows(*accounts), now=now), upsert_contacts(session, rows(*contacts), now=now))
    changed = upsert_contacts(session, rows({**contacts[0], "last_seen_at": "2026-11-20T10:00:01+01:00"}), now=now)
    session.commit()

    assert [(r.inserted, r.updated, r.unchanged, r.errors) for r in first] == [(1, 0, 0, [])] * 2
    assert [(r.inserted, r.updated, r.unchanged, r.errors) for r in again] == [(0, 0, 1, [])] * 2
    assert (changed.inserted, changed.updated, changed.unchanged) == (0, 1, 0)


def test_work_still_queued_when_the_caller_gives_up_is_not_run(session: Session) -> None:
    import time

    from campaigns.people.upsert import _Writer

    ran: list[str] = []
    writer = _Writer(session)

    def first() -> None:
        # Still running when the caller fails: it ends only once the writer knows (on PostgreSQL, where
        # work queues in a second thread; on SQLite work runs at once, so nothing is queued).
        deadline = time.monotonic() + 10
        while writer.postgresql and writer._failed is None and time.monotonic() < deadline:
            time.sleep(0.001)
        ran.append("first")

    with pytest.raises(ValueError, match="the caller's"), writer:
        writer.submit(first)
        writer.submit(lambda: ran.append("second"))
        if writer.postgresql:
            assert ran == []  # both still queued behind the first
        raise ValueError("the caller's own error")

    assert ran == (["first"] if writer.postgresql else ["first", "second"])
