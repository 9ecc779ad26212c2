"""Issue 2: a 100,000-row contacts CSV through `pulse import` on PostgreSQL — time and peak memory.

    .venv/bin/python bench/bench_import.py [--rows 100000]

Runs the real command in a child process (with its progress bar), timing it and
reading its peak resident memory from the kernel (getrusage of children).
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
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, fresh_schema() as url:
        accounts, contacts = write_files(Path(folder), args.rows)
        env = {**os.environ, "PULSE_DATABASE_URL": url}
        subprocess.run([PULSE, "import", "accounts", str(accounts)], env=env, check=True, stdout=subprocess.DEVNULL)
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        subprocess.run([PULSE, "import", "contacts", str(contacts)], env=env, check=True)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size = contacts.stat().st_size / 2**20
        print(f"\n{args.rows:,} contact rows ({size:.1f} MiB CSV) imported on PostgreSQL in {seconds:.1f} s "
              f"= {args.rows / seconds:,.0f} rows/s; peak memory of `pulse import` {max(peak, before) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
