"""Issues 2 / 12: a contacts CSV through `pulse import` on PostgreSQL, against COPY + upsert.

    .venv/bin/python bench/bench_import.py [--rows 100000 [1000000 ...]] [--rounds 2]

With several ``--rows`` sizes each runs its rounds and the summary adds the peak
memory of the largest over the smallest (flat memory: about 1.0).

Runs the real command in a child process, timing it and reading its CPU and
peak resident memory from the kernel (getrusage of children). The baseline, in
the same round on the same file: ``COPY`` of the CSV into a staging table of
text columns, then one ``INSERT … SELECT … ON CONFLICT (external_id) DO UPDATE``
into a twin of the contacts table (same columns, indexes and foreign key to
accounts), joining accounts by external id — the database work with no
validation and no error report. The same without the foreign key (the baseline
of earlier rounds: ``LIKE … INCLUDING ALL`` copies no foreign key, so it skipped
the check of each row's account that an insert into contacts makes) is printed too.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import fresh_schema
from sqlalchemy import text

from campaigns.db import driver_connection, make_engine

PULSE = str(Path(sys.executable).with_name("pulse"))
ZONES = ["America/Los_Angeles", "America/New_York", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney"]
LOCALES = ["en", "en-GB", "de", "de-AT", "fr", "ja"]


def write_files(folder: Path, rows: int) -> tuple[Path, Path]:
    accounts = folder / "accounts.csv"
    contacts = folder / "contacts.csv"
    account_count = max(1, rows // 20)
    with accounts.open("w") as out:
        out.write("external_id,name,segment,tier,plan,lifecycle_stage,created_on,renewal_on\n")
        for i in range(account_count):
            out.write(f"acc-{i},Account {i},{random.choice(['smb', 'mid-market', 'enterprise'])},{random.choice(['silver', 'gold'])},pro,active,2024-01-0{1 + i % 9},2027-0{1 + i % 9}-15\n")
    with contacts.open("w") as out:
        out.write("external_id,account_external_id,name,email,phone,role,locale,timezone,attr.seats,attr.region\n")
        for i in range(rows):
            phone = f"+1415555{i % 10000:04d}" if i % 3 == 0 else ""
            out.write(f"c-{i},acc-{i % account_count},Person {i},person{i}@example.com,{phone},{random.choice(['admin', 'user', 'billing'])},"
                      f"{LOCALES[i % len(LOCALES)]},{ZONES[i % len(ZONES)]},{i % 50},{random.choice(['emea', 'amer', 'apac'])}\n")
    return accounts, contacts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000], help="one or more sizes, e.g. 100000 1000000")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    peaks: dict[int, float] = {}
    for rows in args.rows:
        results = [run(rows, round_number) for round_number in range(1, args.rounds + 1)]
        ratios = [ratio for ratio, _, _ in results]
        without = [ratio for _, ratio, _ in results]
        peaks[rows] = max(peak for _, _, peak in results)
        print(f"summary {rows:,} rows over {args.rounds} rounds: ratio pulse import / COPY + upsert {min(ratios):.2f}-{max(ratios):.2f} "
              f"({min(without):.2f}-{max(without):.2f} against the upsert without the foreign key); peak memory {peaks[rows]:.0f} MiB", flush=True)
    if len(peaks) > 1:
        small, large = min(peaks), max(peaks)
        print(f"peak memory {large:,} rows / {small:,} rows: {peaks[large]:.0f} / {peaks[small]:.0f} MiB = {peaks[large] / peaks[small]:.2f}")


def run(rows: int, round_number: int) -> tuple[float, float, float]:
    """One round: (ratio, ratio against the upsert without the foreign key, peak resident memory of `pulse import` in MiB)."""
    with tempfile.TemporaryDirectory() as folder, fresh_schema() as url:
        print(f"round {round_number}: writing {rows:,} contact rows ...", flush=True)
        accounts, contacts = write_files(Path(folder), rows)
        env = {**os.environ, "PULSE_DATABASE_URL": url}
        subprocess.run([PULSE, "import", "accounts", str(accounts)], env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"round {round_number}: pulse import contacts ...", flush=True)
        seconds, cpu, peak = _import_contacts(env, contacts)
        print(f"round {round_number}: COPY + upsert baseline ...", flush=True)
        # Both baselines, in turn first (the second runs with the first's pages cached).
        if round_number % 2:
            bare, bare_cpu = copy_and_upsert(url, contacts, foreign_key=True)
            unchecked, _ = copy_and_upsert(url, contacts, foreign_key=False)
        else:
            unchecked, _ = copy_and_upsert(url, contacts, foreign_key=False)
            bare, bare_cpu = copy_and_upsert(url, contacts, foreign_key=True)
        size = contacts.stat().st_size / 2**20
        print(f"round {round_number}: {rows:,} contact rows ({size:.1f} MiB CSV) imported on PostgreSQL in {seconds:.1f} s "
              f"= {rows / seconds:,.0f} rows/s; CPU {1e6 * cpu / rows:,.0f} µs/row; peak memory of `pulse import` {peak:.0f} MiB")
        print(f"round {round_number}: COPY into a staging table + one upsert of the same file (foreign key checked): {bare:.1f} s = {rows / bare:,.0f} rows/s; "
              f"CPU {1e6 * bare_cpu / rows:,.0f} µs/row; ratio {bare / seconds:.2f}", flush=True)
        print(f"round {round_number}: the same without the foreign key to accounts: {unchecked:.1f} s = {rows / unchecked:,.0f} rows/s; "
              f"ratio {unchecked / seconds:.2f}", flush=True)
        return bare / seconds, unchecked / seconds, peak


def _import_contacts(env: dict[str, str], contacts: Path) -> tuple[float, float, float]:
    """`pulse import contacts` in a child: (seconds, CPU seconds, its own peak RSS in MiB).

    The child's peak is read from /proc as it runs (VmHWM): RUSAGE_CHILDREN's
    maxrss is the largest of all children so far, which would hide a smaller one.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen([PULSE, "import", "contacts", str(contacts)], env=env, stdout=subprocess.DEVNULL)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, _peak_rss(child.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    if child.returncode:
        raise SystemExit(f"pulse import contacts exited with {child.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    return seconds, cpu, peak


def _peak_rss(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def copy_and_upsert(url: str, contacts: Path, *, foreign_key: bool) -> tuple[float, float]:
    """The bare baseline: (seconds, CPU seconds of this process)."""
    engine = make_engine(url)
    with engine.connect() as connection:
        connection.execute(text("DROP TABLE IF EXISTS contacts_bare"))
        connection.execute(text("CREATE TABLE contacts_bare (LIKE contacts INCLUDING ALL)"))  # LIKE copies no foreign key
        if foreign_key:
            connection.execute(text("ALTER TABLE contacts_bare ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE RESTRICT"))
        connection.commit()
        raw = driver_connection(connection)
        started, cpu = time.perf_counter(), time.process_time()
        with raw.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE staging (external_id text, account_external_id text, name text, email text, phone text, "
                           "role text, locale text, timezone text, seats text, region text)")
            with contacts.open("rb") as source, cursor.copy("COPY staging FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            cursor.execute(
                "INSERT INTO contacts_bare (external_id, account_id, name, email, phone, role, locale, timezone, attributes, created_at, updated_at) "
                "SELECT s.external_id, a.id, s.name, s.email, NULLIF(s.phone, ''), s.role, s.locale, s.timezone, "
                "jsonb_build_object('seats', s.seats::int, 'region', s.region), now(), now() "
                "FROM staging s LEFT JOIN accounts a ON a.external_id = s.account_external_id "
                "ON CONFLICT (external_id) DO UPDATE SET account_id = EXCLUDED.account_id, name = EXCLUDED.name, email = EXCLUDED.email, "
                "phone = EXCLUDED.phone, role = EXCLUDED.role, locale = EXCLUDED.locale, timezone = EXCLUDED.timezone, "
                "attributes = contacts_bare.attributes || EXCLUDED.attributes, updated_at = EXCLUDED.updated_at")
        raw.commit()
        result = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return result


if __name__ == "__main__":
    main()
