"""The OpenAPI request checker the provider fakes rely on, in both description styles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.openapi_check import ApiSpec, Violation, coerce_value

SWAGGER2: dict[str, Any] = {
    "swagger": "2.0",
    "basePath": "/v3",
    "consumes": ["application/json"],
    "definitions": {
        "address": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email"}},
            "required": ["email"],
        }
    },
    "parameters": {"limit": {"name": "limit", "in": "query", "type": "integer", "maximum": 100}},
    "paths": {
        "/things/{id}": {
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "type": "string",
                    "pattern": "^T\\d+$",
                }
            ],
            "post": {
                "parameters": [
                    {"$ref": "#/parameters/limit"},
                    {"name": "on-behalf-of", "in": "header", "type": "string", "required": True},
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": {
                            "type": "object",
                            "properties": {"to": {"$ref": "#/definitions/address"}},
                            "required": ["to"],
                        },
                    },
                ]
            },
        },
        "/things/special": {"post": {"parameters": []}},
        "/forms": {
            "post": {
                "consumes": ["application/x-www-form-urlencoded"],
                "parameters": [
                    {"name": "count", "in": "formData", "type": "integer", "required": True},
                    {
                        "name": "tags",
                        "in": "formData",
                        "type": "array",
                        "items": {"type": "string"},
                    },
                ],
            }
        },
    },
}

OPENAPI3: dict[str, Any] = {
    "openapi": "3.0.1",
    "servers": [{"url": "https://api.example.com/base"}],
    "components": {
        "schemas": {"level": {"type": "string", "enum": ["low", "high"]}},
        "requestBodies": {
            "note": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "note": {"type": "string", "nullable": True},
                                "title": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    },
    "paths": {
        "/2010/Accounts/{Sid}/Items.json": {
            "post": {
                "parameters": [
                    {
                        "name": "Sid",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^AC[0-9]+$"},
                    },
                ],
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["To"],
                                "properties": {
                                    "To": {"type": "string"},
                                    "Count": {"type": "integer"},
                                    "Price": {"type": "number"},
                                    "Flag": {"type": "boolean"},
                                    "Level": {"$ref": "#/components/schemas/level"},
                                    "Media": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        }
                    }
                },
            }
        },
        "/notes": {"put": {"requestBody": {"$ref": "#/components/requestBodies/note"}}},
    },
}


@pytest.fixture
def swagger() -> ApiSpec:
    return ApiSpec(SWAGGER2)


@pytest.fixture
def openapi() -> ApiSpec:
    return ApiSpec(OPENAPI3)


def fields(violations: list[Violation]) -> set[tuple[str, str | None]]:
    return {(v.location, v.field) for v in violations}


HEADERS = {"On-Behalf-Of": "sub-1"}


# -- Swagger 2.0 -----------------------------------------------------------------------


def test_swagger2_valid_json_body_passes_through_refs_and_base_path(swagger: ApiSpec) -> None:
    body = {"to": {"email": "a@example.com"}}
    assert swagger.validate_request("POST", "/v3/things/T1", json_body=body, headers=HEADERS) == []


def test_swagger2_missing_nested_property_names_the_field(swagger: ApiSpec) -> None:
    violations = swagger.validate_request(
        "POST", "/v3/things/T1", json_body={"to": {}}, headers=HEADERS
    )
    assert fields(violations) == {("body", "to.email")}
    assert "required" in violations[0].message


def test_swagger2_format_inside_a_ref_is_checked(swagger: ApiSpec) -> None:
    body = {"to": {"email": "not-an-address"}}
    violations = swagger.validate_request("POST", "/v3/things/T1", json_body=body, headers=HEADERS)
    assert fields(violations) == {("body", "to.email")}


def test_swagger2_path_query_and_header_parameters(swagger: ApiSpec) -> None:
    body = {"to": {"email": "a@example.com"}}
    assert (
        swagger.validate_request("POST", "/v3/things/T1?limit=5", json_body=body, headers=HEADERS)
        == []
    )
    violations = swagger.validate_request("POST", "/v3/things/X1?limit=500", json_body=body)
    assert fields(violations) == {("path", "id"), ("query", "limit"), ("header", "on-behalf-of")}
    typed = swagger.validate_request(
        "POST", "/v3/things/T1", query="limit=abc", json_body=body, headers=HEADERS
    )
    assert [v.message for v in typed] == ["'abc' is not of type 'integer'"]


def test_swagger2_raw_body_needs_an_accepted_content_type_and_valid_json(swagger: ApiSpec) -> None:
    path = "/v3/things/T1"
    wrong_type = swagger.validate_request(
        "POST", path, body=b"to=x", content_type="text/plain", headers=HEADERS
    )
    assert fields(wrong_type) == {("request", "Content-Type")}
    broken = swagger.validate_request(
        "POST", path, body=b"{", content_type="application/json; charset=utf-8", headers=HEADERS
    )
    assert fields(broken) == {("body", None)} and "not valid JSON" in broken[0].message
    missing = swagger.validate_request("POST", path, headers=HEADERS)
    assert [v.message for v in missing] == ["a request body is required"]


def test_swagger2_form_data_parameters_are_coerced(swagger: ApiSpec) -> None:
    assert (
        swagger.validate_request(
            "POST", "/v3/forms", form=[("count", "3"), ("tags", "a"), ("tags", "b")]
        )
        == []
    )
    assert fields(swagger.validate_request("POST", "/v3/forms", form={"count": "three"})) == {
        ("body", "count")
    }
    assert fields(swagger.validate_request("POST", "/v3/forms", form={"tags": "a"})) == {
        ("body", "count")
    }


def test_literal_paths_win_over_templated_ones_and_unknown_operations_are_violations(
    swagger: ApiSpec,
) -> None:
    found = swagger.find_operation("POST", "/v3/things/special")
    assert found is not None and found[0].template == "/things/special"
    assert fields(swagger.validate_request("GET", "/v3/things/T1")) == {("request", None)}
    assert fields(swagger.validate_request("POST", "/v3/nothing")) == {("request", None)}


# -- OpenAPI 3.0 -----------------------------------------------------------------------

ITEMS = "/base/2010/Accounts/AC1/Items.json"


def test_openapi3_form_values_are_coerced_to_their_schema_types(openapi: ApiSpec) -> None:
    form = [("To", "+1555"), ("Count", "3"), ("Price", "0.5"), ("Flag", "true"), ("Level", "high")]
    assert openapi.validate_request("POST", ITEMS, form=form) == []


def test_openapi3_values_that_do_not_parse_fail_with_their_field(openapi: ApiSpec) -> None:
    form = {"To": "+1555", "Count": "3.5", "Price": "cheap", "Flag": "yes", "Level": "medium"}
    violations = openapi.validate_request("POST", ITEMS, form=form)
    assert fields(violations) == {
        ("body", "Count"),
        ("body", "Price"),
        ("body", "Flag"),
        ("body", "Level"),
    }


def test_openapi3_repeated_keys_are_arrays(openapi: ApiSpec) -> None:
    ok = openapi.validate_request(
        "POST", ITEMS, form=[("To", "+1"), ("Media", "a"), ("Media", "b")]
    )
    assert ok == []
    assert openapi.validate_request("POST", ITEMS, form=[("To", "+1"), ("Media", "a")]) == []
    twice = openapi.validate_request("POST", ITEMS, form=[("To", "+1"), ("To", "+2")])
    assert fields(twice) == {("body", "To")} and "is not of type 'string'" in twice[0].message


def test_openapi3_raw_form_body_and_server_path_prefix(openapi: ApiSpec) -> None:
    raw = b"To=%2B1555&Count=2&Media=a&Media=b"
    form_type = "application/x-www-form-urlencoded"
    assert openapi.validate_request("POST", ITEMS, body=raw, content_type=form_type) == []
    assert (
        openapi.validate_request(
            "POST", "/2010/Accounts/AC1/Items.json", body=raw, content_type=form_type
        )
        == []
    )
    violations = openapi.validate_request(
        "POST", "/base/2010/Accounts/XX/Items.json", body=b"Count=1", content_type=form_type
    )
    assert fields(violations) == {("path", "Sid"), ("body", "To")}


def test_openapi3_request_body_ref_and_nullable(openapi: ApiSpec) -> None:
    assert openapi.validate_request("PUT", "/notes", json_body={"note": None}) == []
    assert fields(openapi.validate_request("PUT", "/notes", json_body={"title": None})) == {
        ("body", "title")
    }
    assert [v.message for v in openapi.validate_request("PUT", "/notes")] == [
        "a request body is required"
    ]


def test_coerce_value_keeps_strings_that_do_not_parse() -> None:
    spec = ApiSpec(OPENAPI3)
    assert coerce_value(spec, "12", {"type": "integer"}) == 12
    assert coerce_value(spec, "1.5", {"type": "number"}) == 1.5
    assert coerce_value(spec, "FALSE", {"type": "boolean"}) is False
    assert coerce_value(spec, "12", {"type": "string"}) == "12"
    assert coerce_value(spec, "x", {"type": "integer"}) == "x"


# -- the providers' own descriptions -----------------------------------------------------


def test_sendgrid_spec_mail_send_accepts_a_minimal_body_and_names_a_missing_to() -> None:
    spec = ApiSpec.load("sendgrid-v3.oai.json")
    body = {
        "personalizations": [{"to": [{"email": "a@example.com"}]}],
        "from": {"email": "surveys@pulse.example"},
        "subject": "Hi",
        "content": [{"type": "text/plain", "value": "Hello"}],
    }
    assert spec.validate_request("POST", "/v3/mail/send", json_body=body) == []
    body["personalizations"] = [{"cc": [{"email": "b@example.com"}]}]
    violations = spec.validate_request("POST", "/v3/mail/send", json_body=body)
    assert fields(violations) == {("body", "personalizations.0.to")}


def test_twilio_spec_messages_create_checks_account_sid_and_typed_form_fields() -> None:
    spec = ApiSpec.load("twilio-api-v2010.oai.json")
    path = "/2010-04-01/Accounts/AC" + "a" * 32 + "/Messages.json"
    form = {"To": "+15551234567", "From": "+15557654321", "Body": "Hi", "ValidityPeriod": "600"}
    assert spec.validate_request("POST", path, form=form) == []
    bad = spec.validate_request(
        "POST",
        "/2010-04-01/Accounts/ACshort/Messages.json",
        form={**form, "ValidityPeriod": "soon"},
    )
    assert ("path", "AccountSid") in fields(bad) and ("body", "ValidityPeriod") in fields(bad)
