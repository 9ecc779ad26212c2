"""Bulk upsert of accounts and contacts by external id."""

from __future__ import annotations

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
