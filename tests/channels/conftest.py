"""Fixtures for the channel adapter tests: the provider fakes and real servers they talk to.

The email fixtures and the SMS/in-app fixtures live in separate modules under
``tests/fakes`` so the engineers working on each do not edit one file.
"""

from __future__ import annotations

from tests.fakes.fixtures_email import *

try:
    from tests.fakes.fixtures_sms import *
except ModuleNotFoundError as exc:  # until the SMS fixtures exist; any other failure shows
    if exc.name != "tests.fakes.fixtures_sms":
        raise
