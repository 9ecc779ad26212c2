"""`pulse --help` reads as help: commands and options, no type column such as `--help <bool>`."""

from __future__ import annotations

from typer.testing import CliRunner

from api.cli import app


def test_help_lists_the_commands_without_type_noise() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert top.exit_code == 0
    assert "<bool>" not in top.output and "--help  Show this message and exit." in top.output
    for command in ("run", "worker", "beat", "migrate", "import", "keys", "status", "campaigns"):
        assert f"\n  {command} " in top.output, command
    run = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "120"})
    assert "--demo / --no-demo" in run.output and "<bool>" not in run.output
