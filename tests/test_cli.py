"""The `pulse` command, run as a user runs it: a real process with PULSE_* variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.access.service import verify_key
from campaigns.people.models import Contact
from dispatcher.runtime.core import Runtime

PULSE = str(Path(sys.executable).with_name("pulse"))


def pulse(runtime: Runtime, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env.update({
        "PULSE_DATABASE_URL": runtime.settings.database_url,
        "PULSE_ENVIRONMENT": "test",
        "PULSE_SECRET_KEY": runtime.settings.secret_key.get_secret_value(),
        "COLUMNS": "200",
        **(extra_env or {}),
    })
    return subprocess.run([PULSE, *args], env=env, capture_output=True, text=True, timeout=120)


def test_import_contacts_shows_progress_and_a_table_of_errors(runtime: Runtime, session: Session, tmp_path: Path) -> None:
    csv_file = tmp_path / "contacts.csv"
    lines = ["external_id,email,timezone"] + [f"c{i},c{i}@example.com,UTC" for i in range(3000)]
    lines += ["bad1,nope,UTC", "bad2,b@example.com,Not/AZone"]
    csv_file.write_text("\n".join(lines) + "\n")

    result = pulse(runtime, "import", "contacts", str(csv_file))

    assert result.returncode == 0, result.stderr
    assert "3,000 inserted, 0 updated" in result.stdout
    assert "2 row errors" in result.stdout
    assert "Rows not imported" in result.stdout and "Not/AZone" in result.stdout
    assert "imported contacts" in result.stdout  # the progress bar's final state
    assert session.scalar(select(func.count()).select_from(Contact)) == 3000


def test_import_of_a_file_that_is_not_csv_fails_and_keeps_nothing(runtime: Runtime, session: Session, tmp_path: Path) -> None:
    bad = tmp_path / "contacts.csv"
    bad.write_bytes(b"external_id,email\nc1,a@example.com\n" + b"\x00" * 10)
    result = pulse(runtime, "import", "contacts", str(bad))
    assert result.returncode == 2
    assert "Nothing was imported" in result.stderr
    assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_keys_create_prints_a_working_key_once(runtime: Runtime, session: Session) -> None:
    result = pulse(runtime, "keys", "create", "--role", "ops")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().split()[-1]
    key = verify_key(session, token)
    assert key is not None and key.role == "ops"
    assert token not in key.secret_hash


def test_a_wrong_setting_is_named_with_what_to_do(runtime: Runtime) -> None:
    result = pulse(runtime, "migrate", extra_env={"PULSE_WORKER": "threads"})
    assert result.returncode == 2
    assert "PULSE_WORKER" in result.stderr and "Fix the variable" in result.stderr


def test_migrate_reports_the_revision(runtime: Runtime) -> None:
    result = pulse(runtime, "migrate")
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stdout
