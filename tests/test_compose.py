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


def test_metrics_stack_is_wired_to_pulse() -> None:
    """Prometheus scrapes the API and the workers' metrics port; Grafana loads the dashboard from the repository."""
    root = Path(__file__).resolve().parents[1]
    assert {"prometheus", "grafana", "flower"} <= set(SERVICES)
    assert "--metrics-port" in SERVICES["worker"]["command"]
    port = SERVICES["worker"]["command"][SERVICES["worker"]["command"].index("--metrics-port") + 1]
    scrape = yaml.safe_load((root / "deploy" / "prometheus.yml").read_text())
    targets = yaml.safe_dump(scrape["scrape_configs"])
    assert "api:8000" in targets and f"port: {port}" in targets
    for mount in SERVICES["grafana"]["volumes"] + SERVICES["prometheus"]["volumes"]:
        assert (root / mount.split(":")[0]).exists(), mount
    import json

    dashboard = json.loads((root / "deploy" / "grafana" / "pulse-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in ("pulse_messages", "pulse_queue_depth", "pulse_queue_oldest_age_seconds", "pulse_provider_requests_total",
                   "pulse_provider_request_seconds_bucket", "pulse_scheduler_last_tick_timestamp_seconds", "pulse_budget_refusals_total",
                   "pulse_webhook_events_total", "pulse_answers_total", "pulse_webhook_delivery_attempts_total"):
        assert metric in exprs, metric
