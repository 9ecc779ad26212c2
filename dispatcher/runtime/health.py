"""Whether the database and the broker answer, for /healthz and `pulse` start-up."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from dispatcher.runtime.core import Runtime


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_database(runtime: Runtime) -> Check:
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return Check("database", True, runtime.engine.dialect.name)
    except Exception as exc:  # any failure means "not healthy"; the detail says which
        return Check("database", False, f"{type(exc).__name__}: {exc}".splitlines()[0])


def check_broker(runtime: Runtime) -> Check:
    settings = runtime.settings
    if settings.worker == "inprocess":
        return Check("broker", True, "in-process worker")
    from kombu import Connection

    try:
        with Connection(settings.broker_url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
        return Check("broker", True, connection.transport_cls if isinstance(connection.transport_cls, str) else "connected")
    except Exception as exc:
        return Check("broker", False, f"{type(exc).__name__}: {exc}".splitlines()[0])


def check_redis(runtime: Runtime) -> Check | None:
    if not runtime.settings.redis_url:
        return None
    import redis

    try:
        redis.Redis.from_url(runtime.settings.redis_url, socket_connect_timeout=3).ping()
        return Check("redis", True, "connected")
    except redis.RedisError as exc:
        return Check("redis", False, f"{type(exc).__name__}: {exc}")


def run_checks(runtime: Runtime) -> list[Check]:
    checks = [check_database(runtime), check_broker(runtime)]
    if (redis_check := check_redis(runtime)) is not None:
        checks.append(redis_check)
    return checks
