"""Every documented operation, fuzzed from the OpenAPI schema against the ASGI app.

Schemathesis generates valid and invalid requests per operation (a fixed seed,
a bounded number of examples: ``PULSE_FUZZ_EXAMPLES``, 3 by default; another
seed with ``PULSE_FUZZ_SEED``, 13 by default, to reach other cases); every
answer must be a non-5xx with a documented status code, content type and
body schema. The totals are printed so a run can be quoted.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis import APIOperation, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from campaigns.access.models import Role
from dispatcher.runtime.core import Runtime
from tests import factories

EXAMPLES = int(os.environ.get("PULSE_FUZZ_EXAMPLES", "3"))
SEED = int(os.environ.get("PULSE_FUZZ_SEED", "13"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _arrange(runtime: Runtime) -> None:
    """A few rows, so that small ids in generated paths find something."""
    with runtime.sessions() as session:
        factories.population(session, 3)
        session.commit()


def _fuzz(operation: APIOperation, mode: GenerationMode, headers: dict[str, str], cases: Counter[str], failures: list[str]) -> None:
    """Run ``EXAMPLES`` generated cases of one operation; each failed check is noted, not raised."""

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        cases[mode.value] += 1
        try:
            case.call_and_validate(headers={**dict(case.headers or {}), **headers}, checks=CHECKS)
        except FailureGroup as exc:  # one or more checks failed
            failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")

    run()


def test_no_operation_answers_5xx_or_off_schema(runtime: Runtime, auth: Callable[[Role], dict[str, str]]) -> None:
    _arrange(runtime)
    # In-app answers configured, so their operations get past "not configured" to their validation.
    runtime.settings.in_app_publishable_key = "pk_fuzz"
    runtime.settings.in_app_secret = SecretStr("fuzz-secret")
    app = create_app(runtime.settings, runtime=runtime, start_worker=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = auth(Role.ADMIN)
    cases: Counter[str] = Counter()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema raises here
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, headers, cases, failures)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to break: no parameters, no body
    print(f"\nSchemathesis: {operations} operations, {sum(cases.values())} cases ({dict(cases)}), {len(failures)} failures")
    assert operations > 30
    assert not failures, "\n\n".join(failures)
