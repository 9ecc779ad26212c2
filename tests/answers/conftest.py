"""Fixtures for the answer tests: each engineer's fixtures live in their own module, star-imported here."""

from __future__ import annotations

from tests.answers.fixtures_events import *
from tests.answers.fixtures_links import *
from tests.answers.fixtures_loop import *
