"""The commands that read the database say what to check when it is not there, instead of a traceback:
run outside the folder of `make run`, or with a server that does not answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.answers.live_server import free_port

COMMANDS = (["status"], ["campaigns", "watch", "1", "--once"], ["keys", "create", "--role", "ops"])


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_outside_the_folder_of_make_run_it_says_where_to_run_and_leaves_no_empty_database(command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, command, env={"PULSE_DATABASE_URL": "sqlite:///./pulse.db", "COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "has no Pulse schema" in result.output and "in the folder where `make run` runs" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "pulse.db").exists()


def test_an_empty_database_file_is_no_pulse_database(tmp_path: Path) -> None:
    (tmp_path / "other.db").write_bytes(b"")
    result = CliRunner().invoke(app, ["status"], env={"PULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}", "COLUMNS": "200"})
    assert result.exit_code == 2 and "has no Pulse schema" in result.output, result.output


def test_a_server_that_does_not_answer_is_named_with_what_to_check() -> None:
    url = f"postgresql+psycopg://pulse@127.0.0.1:{free_port()}/pulse"  # nothing listens there
    result = CliRunner().invoke(app, ["status"], env={"PULSE_DATABASE_URL": url, "COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "cannot reach the database at PULSE_DATABASE_URL" in result.output and "Check that the server is running" in result.output
