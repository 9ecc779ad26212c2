"""Streaming CSV import: bad rows reported, good rows kept, bad files leave nothing."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.people.csv_import import CsvRejected, import_csv
from campaigns.people.models import Contact
from dispatcher.runtime.core import Runtime
from tests import factories

HEADER = "external_id,account_external_id,name,email,phone,role,locale,timezone,attr.seats\n"


def csv_bytes(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Contact)) or 0


def test_each_bad_row_is_reported_with_row_field_and_reason(runtime: Runtime, session: Session) -> None:
    factories.account(session, external_id="acme")
    session.commit()
    text = HEADER + "\n".join([  # noqa: FLY002 -- one line per row reads better
        "c1,acme,Ana,ana@example.com,+14155550100,admin,en,America/New_York,5",
        'c2,acme,"Broken, row",b@example.com',  # too few fields
        "c3,acme,Cy,not-an-email,,,en,UTC,",
        "c4,acme,Di,di@example.com,12ab,,en,UTC,",
        "c5,acme,Ed,ed@example.com,,,en,Moon/Base,",
        "c6,acme,Fa,fa@example.com,,,zz,UTC,",
        "c7,ghost,Gu,gu@example.com,,,en,UTC,",
        "c8,,Ha,ha@example.com,,,de-AT,Europe/Vienna,",
    ]) + "\n"

    result = import_csv(session, csv_bytes(text), kind="contacts", now=runtime.clock.now())
    session.commit()

    assert result.inserted == 2
    assert [(e.row, e.field) for e in result.errors] == [
        (3, "row"), (4, "email"), (5, "phone"), (6, "timezone"), (7, "locale"), (8, "account_external_id"),
    ]
    assert "has 4 fields, the header has 9" in result.errors[0].reason
    assert sorted(session.scalars(select(Contact.external_id))) == ["c1", "c8"]
    c1 = session.scalars(select(Contact).where(Contact.external_id == "c1")).one()
    assert (c1.timezone, c1.attributes) == ("America/New_York", {"seats": "5"})
    c8 = session.scalars(select(Contact).where(Contact.external_id == "c8")).one()
    assert (c8.locale, c8.account_id) == ("de-AT", None)


def test_unknown_column_rejects_the_file_before_writing(runtime: Runtime, session: Session) -> None:
    with pytest.raises(CsvRejected, match="unknown column.*'emial'"):
        import_csv(session, csv_bytes("external_id,emial\nc1,a@example.com\n"), kind="contacts", now=runtime.clock.now())
    session.rollback()
    assert count(session) == 0


def test_a_file_without_external_id_is_rejected_naming_the_columns_and_attr_columns(runtime: Runtime, session: Session) -> None:
    with pytest.raises(CsvRejected, match=r"no external_id column; columns are: external_id, .*attr\.<name>"):
        import_csv(session, csv_bytes("# Pulse\n\nA README, not a CSV\n"), kind="contacts", now=runtime.clock.now())


def test_binary_file_is_not_csv(runtime: Runtime, session: Session) -> None:
    xlsx_like = io.BytesIO(b"PK\x03\x04\x14\x00\x06\x00" + bytes(200))
    with pytest.raises(CsvRejected, match="not CSV"):
        import_csv(session, xlsx_like, kind="contacts", now=runtime.clock.now())


def test_too_many_rows_leave_nothing_written(runtime: Runtime, session: Session) -> None:
    text = "external_id,email\n" + "".join(f"c{i},c{i}@example.com\n" for i in range(2500))
    with pytest.raises(CsvRejected, match="more than 2,000 rows") as raised:
        import_csv(session, csv_bytes(text), kind="contacts", now=runtime.clock.now(), max_rows=2000)
    assert raised.value.too_large
    session.rollback()
    assert count(session) == 0


def test_reimport_updates_in_place_and_reports_progress(runtime: Runtime, session: Session) -> None:
    text = "external_id,email\n" + "".join(f"c{i},c{i}@example.com\n" for i in range(2500))
    seen: list[tuple[int, int]] = []
    first = import_csv(session, csv_bytes(text), kind="contacts", now=runtime.clock.now(), progress=lambda b, r: seen.append((b, r)))
    changed = text.replace("@example.com", "@example.org")  # the same file again would be all unchanged
    second = import_csv(session, csv_bytes(changed), kind="contacts", now=runtime.clock.now())
    session.commit()
    assert (first.inserted, second.updated, count(session)) == (2500, 2500, 2500)
    assert seen[-1] == (len(text.encode()), 2500)
    assert [r for _, r in seen[:2]] == [1000, 2000]


def test_accounts_import_with_bom_and_blank_lines(runtime: Runtime, session: Session) -> None:
    text = "\ufeffexternal_id,name,segment,tier,lifecycle_stage,created_on,renewal_on\nA1,Acme,ent,gold,Churned,2024-05-01,2026-12-31\n\nA2,Beta,smb,silver,active,yesterday,\n"
    result = import_csv(session, csv_bytes(text), kind="accounts", now=runtime.clock.now())
    assert result.inserted == 1
    assert [(e.row, e.field) for e in result.errors] == [(4, "created_on")]


def test_importing_the_same_file_again_reports_unchanged_rows_and_writes_nothing(session: Session, runtime: Runtime) -> None:
    from pathlib import Path

    from campaigns.people.csv_import import import_csv
    from campaigns.people.models import Contact

    examples = Path(__file__).resolve().parents[2] / "examples"
    now = runtime.clock.now()
    with (examples / "accounts.csv").open("rb") as accounts:
        import_csv(session, accounts, kind="accounts", now=now)
    with (examples / "contacts.csv").open("rb") as contacts:
        first = import_csv(session, contacts, kind="contacts", now=now)
    session.flush()
    stamped = dict(session.execute(select(Contact.external_id, Contact.updated_at)).all())
    with (examples / "contacts.csv").open("rb") as contacts:
        again = import_csv(session, contacts, kind="contacts", now=now + timedelta(hours=1))
    assert (first.inserted, first.updated, first.unchanged) == (4, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert len(again.errors) == 1  # the bad row is still reported
    assert dict(session.execute(select(Contact.external_id, Contact.updated_at)).all()) == stamped


def test_inserted_rows_get_both_times_and_updated_rows_only_updated_at(runtime: Runtime, session: Session) -> None:
    first, later = runtime.clock.now(), runtime.clock.now() + timedelta(hours=2)
    import_csv(session, csv_bytes("external_id,email\nc1,a@example.com\nc2,b@example.com\n"), kind="contacts", now=first)
    import_csv(session, csv_bytes("external_id,email\nc1,changed@example.com\nc2,b@example.com\n"), kind="contacts", now=later)
    session.commit()
    times = {c.external_id: (c.created_at, c.updated_at) for c in session.scalars(select(Contact))}
    assert times == {"c1": (first, later), "c2": (first, first)}


def test_attribute_values_and_text_are_stored_exactly_as_written(runtime: Runtime, session: Session) -> None:
    odd = 'Zoë "the \\ back\tslash" 日本\nnext line'
    text = "external_id,name,attr.note,attr.empty\n" + f'c1,"{odd.replace(chr(34), chr(34) * 2)}","{odd.replace(chr(34), chr(34) * 2)}",\n'
    result = import_csv(session, csv_bytes(text), kind="contacts", now=runtime.clock.now())
    session.commit()
    assert (result.inserted, result.errors) == (1, [])
    contact = session.scalars(select(Contact)).one()
    assert (contact.name, contact.attributes) == (odd, {"note": odd})


def test_accounts_named_across_batches_are_found_each_time_and_unknown_ones_reported_each_time(runtime: Runtime, session: Session) -> None:
    from campaigns.people.upsert import BATCH_SIZE

    acme, beta = factories.account(session, external_id="acme"), factories.account(session, external_id="beta")
    session.commit()
    names = ["acme", "beta", "ghost"]
    rows = 2 * BATCH_SIZE + 30  # three batches; every one names all three accounts
    text = "external_id,account_external_id\n" + "".join(f"c{i},{names[i % 3]}\n" for i in range(rows))
    result = import_csv(session, csv_bytes(text), kind="contacts", now=runtime.clock.now())
    session.commit()
    assert result.inserted == len(range(rows)) - len(range(2, rows, 3))
    assert [e.row for e in result.errors] == [i + 2 for i in range(2, rows, 3)]  # the line numbers: the header is line 1
    assert {e.reason for e in result.errors} == {"no account with external id 'ghost'; import accounts first"}
    stored = dict(session.execute(select(Contact.external_id, Contact.account_id)).all())
    assert all(stored[f"c{i}"] == (acme.id, beta.id)[i % 3] for i in range(rows) if i % 3 != 2)


def test_a_file_rejected_after_batches_were_written_leaves_nothing_and_the_session_imports_again(runtime: Runtime, session: Session) -> None:
    from campaigns.people.upsert import BATCH_SIZE

    text = "external_id,email\n" + "".join(f"c{i},c{i}@example.com\n" for i in range(2 * BATCH_SIZE + 10))
    with pytest.raises(CsvRejected, match="more than"):
        import_csv(session, csv_bytes(text), kind="contacts", now=runtime.clock.now(), max_rows=2 * BATCH_SIZE + 5)
    session.rollback()
    assert count(session) == 0
    # Twice in one transaction: whatever the first import made for its batches is gone, so the second works.
    for _ in range(2):
        result = import_csv(session, csv_bytes(text), kind="contacts", now=runtime.clock.now())
    session.commit()
    assert (result.inserted, result.unchanged) == (0, 2 * BATCH_SIZE + 10)
    assert count(session) == 2 * BATCH_SIZE + 10

