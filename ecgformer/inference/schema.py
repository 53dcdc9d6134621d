"""A JSON Schema validator for the keywords ``model.schema.json`` uses (draft 2020-12 semantics), torch-free.

The predictor must run with numpy, scipy, wfdb and onnxruntime alone, so the bundle schema is checked here rather
than with the ``jsonschema`` package (the tests check that both agree). Supported keywords: ``type`` (one or a
list; ``number`` means a finite number: JSON has no NaN or infinity, though Python's ``json`` writes them),
``const``, ``enum``, ``required``, ``properties``, ``additionalProperties``, ``minProperties``, ``items``,
``minItems``, ``maxItems``, ``uniqueItems``, ``minLength``, ``pattern``, ``minimum``, ``maximum``,
``exclusiveMinimum``, ``exclusiveMaximum`` and local ``$ref`` (``#/$defs/...``); annotations (``title``,
``description``, ``$comment``, ``$id``, ``$schema``) are skipped; an error quotes the nearest enclosing
``description`` as the hint of what the key must hold. Any other keyword is refused when the schema is read, so
the schema cannot silently ask for more than is checked.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["SchemaError", "bundle_schema", "schema_errors"]

_ANNOTATIONS = {"$schema", "$id", "$defs", "$comment", "title", "description"}
_KEYWORDS = {"type", "const", "enum", "required", "properties", "additionalProperties", "minProperties", "items",
             "minItems", "maxItems", "uniqueItems", "minLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
             "exclusiveMaximum", "$ref"} | _ANNOTATIONS


class SchemaError(ValueError):
    """A schema that uses a keyword this validator does not implement."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_TYPE_WORDS = {"null": "null", "boolean": "true or false", "integer": "an integer", "number": "a finite number",
               "string": "a string", "array": "a list", "object": "an object"}
_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: _is_number(v) and float(v).is_integer(),
    "number": _is_number,
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _check_keywords(schema: Any, where: str = "#") -> None:
    if not isinstance(schema, dict):
        raise SchemaError(f"{where}: a schema must be an object")
    unknown = set(schema) - _KEYWORDS
    if unknown:
        raise SchemaError(f"{where}: keywords {sorted(unknown)} are not implemented by ecgformer.inference.schema")
    for key in ("properties", "$defs"):
        for name, sub in schema.get(key, {}).items():
            _check_keywords(sub, f"{where}/{key}/{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _check_keywords(schema[key], f"{where}/{key}")


@cache
def bundle_schema() -> dict[str, Any]:
    """The JSON Schema of ``model.json`` shipped with the package (``ecgformer/inference/model.schema.json``)."""
    schema = json.loads(resources.files(__package__).joinpath("model.schema.json").read_text(encoding="utf-8"))
    _check_keywords(schema)
    return schema


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _errors(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str,
            hint: str = "") -> Iterator[tuple[str, str, str]]:
    """``(path, problem, hint)`` for each violation, the hint being the nearest enclosing ``description``."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        yield from _errors(value, merged, root, path, hint)
        return
    hint = schema.get("description", hint)
    problems: list[str] = []
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_TYPES[t](value) for t in types):
            yield path, f"{_show(value)} is not {' or '.join(_TYPE_WORDS[t] for t in types)}", hint
            return
    if "const" in schema and not _same(value, schema["const"]):
        problems.append(f"{_show(value)} is not {_show(schema['const'])}")
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        problems.append(f"{_show(value)} is not one of {', '.join(map(_show, schema['enum']))}")
    if _is_number(value):
        for key, fails, word in (("minimum", lambda b: value < b, "below"), ("maximum", lambda b: value > b, "above"),
                                 ("exclusiveMinimum", lambda b: value <= b, "not above"),
                                 ("exclusiveMaximum", lambda b: value >= b, "not below")):
            if key in schema and fails(schema[key]):
                problems.append(f"{_show(value)} is {word} {_show(schema[key])}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{_show(value)} is shorter than {schema['minLength']} characters")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            problems.append(f"{_show(value)} does not match {schema['pattern']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{len(value)} items, fewer than {schema['minItems']}")
        if len(value) > schema.get("maxItems", math.inf):
            problems.append(f"{len(value)} items, more than {schema['maxItems']}")
        if schema.get("uniqueItems"):
            repeated = [a for k, a in enumerate(value) if any(_same(a, b) for b in value[:k])]
            if repeated:
                problems.append(f"{_show(repeated[0])} appears more than once")
    if isinstance(value, dict):
        if len(value) < schema.get("minProperties", 0):
            problems.append(f"has {len(value)} keys, fewer than {schema['minProperties']}")
        problems.extend(f"required key {key!r} is missing" for key in schema.get("required", ()) if key not in value)
    for problem in problems:
        yield path, problem, hint
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for k, item in enumerate(value):
            yield from _errors(item, schema["items"], root, f"{path}[{k}]", hint)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in properties:
                yield from _errors(item, properties[key], root, where)
            elif extra is False:
                known = ", ".join(properties)
                yield where, f"unknown key (known here: {known})", hint
            elif isinstance(extra, dict):
                yield from _errors(item, extra, root, where, hint)


def schema_errors(value: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every violation of ``schema`` (default :func:`bundle_schema`) by ``value``, one line each:
    ``"<key path>: <problem> (<what the key holds>)"``; empty when ``value`` is valid."""
    schema = bundle_schema() if schema is None else schema
    return [f"{path or '(top level)'}: {problem}" + (f" ({hint})" if hint else "")
            for path, problem, hint in _errors(value, schema, schema, "")]
