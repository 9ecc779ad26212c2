"""docker-compose.yml: one image, healthchecks everywhere, and only real `pulse` commands."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from api.cli import app

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_has_the_production_services_with_healthchecks() -> None:
    assert {"api", "worker", "beat", "postgres", "redis", "mailpit"} <= set(SERVICES)
    assert all("healthcheck" in service for service in SERVICES.values())


def test_pulse_services_share_one_image() -> None:
    pulse_services = [s for s in SERVICES.values() if s.get("command", [""])[0] == "pulse"]
    assert len(pulse_services) == 3
    assert {s["image"] for s in pulse_services} == {"pulse:latest"}


def test_every_pulse_command_is_a_real_command() -> None:
    runner = CliRunner()
    for name, service in SERVICES.items():
        command = service.get("command")
        if not command or command[0] != "pulse":
            continue
        words = [w for w in command[1:] if not w.startswith("-")][:1]
        result = runner.invoke(app, [*words, "--help"])
        assert result.exit_code == 0, f"{name}: `{' '.join(command)}` is not a pulse command: {result.output}"
        options = [w.split("=")[0] for w in command[1:] if w.startswith("--")]
        for option in options:
            assert option in result.output, f"{name}: `pulse {words[0]}` has no option {option}"


def test_migrations_run_on_start_and_workers_wait_for_them() -> None:
    assert SERVICES["api"]["command"][:2] == ["pulse", "run"]  # pulse run migrates before serving
    for name in ("worker", "beat"):
        assert SERVICES[name]["depends_on"]["api"]["condition"] == "service_healthy"
