"""Check an HTTP request against one operation of a provider's OpenAPI description.

The provider fakes call this on every request they receive, so a request the
real service would reject by its published schema fails in our tests too.
Both description styles our providers publish are understood:

* Swagger 2.0 (SendGrid): ``basePath``, ``in: body`` / ``in: formData``
  parameters, ``consumes``;
* OpenAPI 3.0 (Twilio): ``servers``, ``requestBody.content`` per media type,
  ``nullable``.

Form bodies (``application/x-www-form-urlencoded``) carry only strings, so each
value is coerced to its schema's type before validation ("5" to 5, "true" to
True) and a key given more than once becomes an array, as the providers' own
parsers do. ``$ref`` resolves anywhere in the document. Schemas are checked as
JSON Schema draft 4, the dialect both description formats are built on.

Only what the description states is checked: no security, no response.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.validators import extend

SPECS_DIR = Path(__file__).parent / "specs"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
# Swagger 2 describes non-body parameters inline; these keys of a parameter are schema keywords.
_SWAGGER2_PARAM_KEYWORDS = (
    "type", "format", "items", "enum", "default", "pattern", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems",
    "maxItems", "uniqueItems", "multipleOf",
)  # fmt: skip
_MAX_MESSAGE = 300  # jsonschema quotes the whole instance; a 1,000-recipient body must not


@dataclass(frozen=True)
class Violation:
    """One reason the provider would refuse the request."""

    location: str  # "body", "path", "query", "header" or "request"
    field: str | None  # dotted path inside the location, e.g. "personalizations.0.to"
    message: str

    def __str__(self) -> str:
        where = f"{self.location}.{self.field}" if self.field else self.location
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # the path as the description writes it, e.g. "/mail/send"
    definition: Mapping[str, Any] = field(repr=False)
    parameters: tuple[Mapping[str, Any], ...] = field(default=())


def _type_allowing_nullable(validator: Any, types: Any, instance: Any, schema: Any) -> Any:
    # OpenAPI 3.0's ``nullable: true`` widens ``type`` to also accept null.
    if instance is None and schema.get("nullable") is True:
        return
    yield from Draft4Validator.VALIDATORS["type"](validator, types, instance, schema)


_Validator = extend(Draft4Validator, {"type": _type_allowing_nullable})


class ApiSpec:
    """A provider's API description, ready to check requests against."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.is_swagger2 = str(document.get("swagger", "")).startswith("2")
        # Keyed by id(); each entry keeps its schema alive so an id is never reused meanwhile.
        self._validators: dict[int, tuple[Mapping[str, Any], Any]] = {}
        self._derived: dict[tuple[str, int], dict[str, Any]] = {}
        self._routes = self._compile_routes()

    @classmethod
    def load(cls, name: str | Path) -> ApiSpec:
        """A spec from ``tests/fakes/specs`` by file name, or from a path; cached."""
        path = Path(name)
        if not path.is_absolute() and not path.exists():
            path = SPECS_DIR / path
        return _load_cached(str(path.resolve()))

    # -- finding the operation ------------------------------------------------------

    def _prefixes(self, path_item: Mapping[str, Any]) -> list[str]:
        if self.is_swagger2:
            base = str(self.document.get("basePath") or "").rstrip("/")
            return [base, ""] if base else [""]
        servers = path_item.get("servers") or self.document.get("servers") or []
        prefixes = {urlsplit(str(s.get("url", ""))).path.rstrip("/") for s in servers}
        return sorted(prefixes | {""}, key=len, reverse=True)

    def _compile_routes(self) -> list[tuple[int, re.Pattern[str], str]]:
        routes = []
        for template, path_item in self.document.get("paths", {}).items():
            regex = re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            for prefix in self._prefixes(path_item):
                routes.append((literal, re.compile(re.escape(prefix) + regex), template))
        routes.sort(key=lambda route: route[0], reverse=True)  # literal paths win over {params}
        return routes

    def find_operation(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        """The operation a concrete request path and method address, with its path values."""
        path = urlsplit(path).path
        for _, regex, template in self._routes:
            match = regex.fullmatch(path)
            if not match:
                continue
            path_item = self.document["paths"][template]
            definition = path_item.get(method.lower())
            if definition is None:
                continue
            merged = {}
            for raw in [*path_item.get("parameters", []), *definition.get("parameters", [])]:
                param = self.resolve(raw)
                merged[(param.get("name"), param.get("in"))] = param
            operation = Operation(method.upper(), template, definition, tuple(merged.values()))
            return operation, match.groupdict()
        return None

    def operation(self, method: str, path: str) -> Operation:
        found = self.find_operation(method, path)
        if found is None:
            raise KeyError(f"no operation {method.upper()} {path} in the description")
        return found[0]

    # -- schemas --------------------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        """Follow ``$ref`` (local, "#/...") until a node without one."""
        seen = 0
        while isinstance(node, Mapping) and "$ref" in node:
            ref = str(node["$ref"])
            if not ref.startswith("#/"):
                raise ValueError(f"only local $ref are supported, got {ref!r}")
            node = self.document
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 50:
                raise ValueError(f"$ref cycle at {ref!r}")
        return node

    def schema_errors(
        self, schema: Mapping[str, Any], instance: Any
    ) -> list[tuple[str | None, str]]:
        """(dotted field, message) for each way ``instance`` breaks ``schema``."""
        cached = self._validators.get(id(schema))
        if cached is None:
            # The schema sits inside the whole document so every "#/..." $ref resolves.
            root = {k: v for k, v in self.document.items() if k not in ("$schema", "id")}
            root["allOf"] = [schema]
            cached = (schema, _Validator(root, format_checker=FormatChecker()))
            self._validators[id(schema)] = cached
        validator = cached[1]
        found = []
        for error in validator.iter_errors(instance):
            for leaf in _leaves(error):
                parts = [str(p) for p in leaf.absolute_path]
                missing = re.match(r"^'(.+)' is a required property$", leaf.message)
                if leaf.validator == "required" and missing:
                    parts.append(missing.group(1))
                message = leaf.message
                if len(message) > _MAX_MESSAGE:
                    message = message[: _MAX_MESSAGE - 3] + "..."
                found.append((".".join(parts) or None, message))
        return sorted(set(found), key=lambda item: (item[0] or "", item[1]))

    # -- the request ----------------------------------------------------------------

    def validate_request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | None = None,
        content_type: str | None = None,
        json_body: Any = None,
        form: Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]] | None = None,
        query: str | Mapping[str, str | Sequence[str]] = "",
        headers: Mapping[str, str] | None = None,
    ) -> list[Violation]:
        """Every violation of the described operation; an empty list means valid.

        Give the body raw (``body`` and ``content_type``, as a server receives it)
        or decoded (``json_body`` or ``form``). A query string in ``path`` counts too.
        """
        found = self.find_operation(method, path)
        if found is None:
            return [
                Violation("request", None, f"no operation {method.upper()} {urlsplit(path).path}")
            ]
        operation, path_values = found
        payload: tuple[str | None, Any]
        if json_body is not None:
            payload = (JSON, json.dumps(json_body))
        elif form is not None:
            payload = (FORM, _pairs(form))
        elif isinstance(body, bytes):
            payload = (content_type, body.decode("utf-8", errors="replace"))
        else:
            payload = (content_type, body)
        return self._check(operation, path_values, path, query, headers, payload)

    def _check(
        self,
        operation: Operation,
        path_values: Mapping[str, str],
        path: str,
        query: str | Mapping[str, str | Sequence[str]],
        headers: Mapping[str, str] | None,
        payload: tuple[str | None, Any],
    ) -> list[Violation]:
        query_pairs = parse_qsl(urlsplit(path).query, keep_blank_values=True)
        query_pairs += (
            parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else _pairs(query)
        )
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        supplied: dict[str, list[tuple[str, str]]] = {
            "path": list(path_values.items()),
            "query": query_pairs,
            "header": [(k, v) for k, v in lowered.items()],
        }
        violations: list[Violation] = []
        form_params = []
        for param in operation.parameters:
            where = param.get("in")
            if where == "body":
                continue
            if where == "formData":
                form_params.append(param)
                continue
            if where not in supplied:
                continue
            name = str(param["name"]).lower() if where == "header" else str(param["name"])
            values = [v for k, v in supplied[where] if k == name]
            if not values:
                if param.get("required"):
                    violations.append(Violation(where, param["name"], "is required"))
                continue
            schema = self._parameter_schema(param)
            value = _coerce_all(self, values, schema)
            violations += [
                Violation(where, ".".join(filter(None, [param["name"], f])), m)
                for f, m in self.schema_errors(schema, value)
            ]
        return violations + self._check_body(operation, form_params, *payload)

    def _parameter_schema(self, param: Mapping[str, Any]) -> Mapping[str, Any]:
        if "schema" in param:
            return self.resolve(param["schema"])
        key = ("param", id(param))  # one dict per parameter, so its validator is cached too
        if key not in self._derived:
            self._derived[key] = {k: param[k] for k in _SWAGGER2_PARAM_KEYWORDS if k in param}
        return self._derived[key]

    def _body_schema(
        self, operation: Operation, form_params: list[Mapping[str, Any]], content_type: str | None
    ) -> tuple[Mapping[str, Any] | None, bool, list[str]]:
        """(schema, required, accepted media types) of the operation's body."""
        definition = operation.definition
        if self.is_swagger2:
            accepted = list(definition.get("consumes") or self.document.get("consumes") or [JSON])
            for param in operation.parameters:
                if param.get("in") == "body":
                    return (
                        self.resolve(param.get("schema", {})),
                        bool(param.get("required")),
                        accepted,
                    )
            if form_params:
                key = ("form", id(definition))
                if key not in self._derived:
                    self._derived[key] = {
                        "type": "object",
                        "properties": {p["name"]: self._parameter_schema(p) for p in form_params},
                        "required": [p["name"] for p in form_params if p.get("required")],
                    }
                return self._derived[key], any(p.get("required") for p in form_params), accepted
            return None, False, accepted
        request_body = self.resolve(definition.get("requestBody"))
        if not request_body:
            return None, False, []
        content = request_body.get("content", {})
        media = content.get(content_type or "", {})
        return (
            self.resolve(media.get("schema", {})),
            bool(request_body.get("required")),
            list(content),
        )

    def _check_body(
        self,
        operation: Operation,
        form_params: list[Mapping[str, Any]],
        content_type: str | None,
        raw: Any,
    ) -> list[Violation]:
        media = (content_type or "").split(";")[0].strip().lower() or None
        schema, required, accepted = self._body_schema(operation, form_params, media)
        empty = raw is None or raw == "" or raw == []
        if schema is None and not accepted:
            return []
        if empty:
            return [Violation("body", None, "a request body is required")] if required else []
        if accepted and media not in accepted:
            return [Violation("request", "Content-Type", f"{media!r} is not one of {accepted}")]
        if media == FORM:
            pairs = raw if isinstance(raw, list) else parse_qsl(raw, keep_blank_values=True)
            instance: Any = _form_object(self, pairs, schema or {})
        else:
            try:
                instance = json.loads(raw)
            except ValueError as exc:
                return [Violation("body", None, f"the body is not valid JSON: {exc}")]
        return [Violation("body", f, m) for f, m in self.schema_errors(schema or {}, instance)]


@lru_cache(maxsize=8)
def _load_cached(path: str) -> ApiSpec:
    return ApiSpec(json.loads(Path(path).read_text(encoding="utf-8")))


def _leaves(error: jsonschema.ValidationError) -> Iterable[jsonschema.ValidationError]:
    # allOf/anyOf wrap the real reason; report the innermost errors, which name the field.
    if error.context and error.validator in ("allOf",):
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _pairs(
    values: Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]],
) -> list[tuple[str, str]]:
    if not isinstance(values, Mapping):
        return [(str(k), str(v)) for k, v in values]
    pairs = []
    for key, value in values.items():
        items = [value] if isinstance(value, str) else list(value)
        pairs += [(str(key), str(item)) for item in items]
    return pairs


def _schema_type(spec: ApiSpec, schema: Any) -> str | None:
    schema = spec.resolve(schema) or {}
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        for combined in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(combined, []):
                kind = _schema_type(spec, sub)
                if kind:
                    return kind
    return kind


def coerce_value(spec: ApiSpec, value: str, schema: Any) -> Any:
    """A form, query or path string as the type its schema declares, when it parses as one."""
    kind = _schema_type(spec, schema)
    if kind == "integer" and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and "." not in value else number
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _coerce_all(spec: ApiSpec, values: list[str], schema: Any) -> Any:
    resolved = spec.resolve(schema) or {}
    if _schema_type(spec, resolved) == "array":
        return [coerce_value(spec, v, resolved.get("items", {})) for v in values]
    coerced = [coerce_value(spec, v, resolved) for v in values]
    return coerced[0] if len(coerced) == 1 else coerced  # a repeated scalar fails as an array


def _form_object(
    spec: ApiSpec, pairs: list[tuple[str, str]], schema: Mapping[str, Any]
) -> dict[str, Any]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    properties = (spec.resolve(schema) or {}).get("properties", {})
    return {
        key: _coerce_all(spec, values, properties.get(key, {})) for key, values in grouped.items()
    }
