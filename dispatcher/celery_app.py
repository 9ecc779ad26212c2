"""The Celery application, built from settings where a worker or beat starts."""

from __future__ import annotations

from celery import Celery

from dispatcher.settings import Settings


def make_celery(settings: Settings) -> Celery:
    celery = Celery("pulse", broker=settings.broker_url, set_as_current=True)
    celery.conf.update(
        task_acks_late=True,  # a task whose worker dies is redelivered; tasks are safe to run twice
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        beat_schedule={},
    )
    celery.conf.pulse_settings = settings
    return celery
