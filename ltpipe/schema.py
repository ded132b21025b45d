"""The config's validation: the JSON Schema ``workflow/schemas/config.schema.yaml``, then what the schema
cannot say, which each experiment's declaration checks (:func:`ltpipe.registry.check_config`).

The workflow validates its config before any job runs; a violation is reported with the dotted path of
the offending key, e.g. ``zhang2021.z3.trials: -1 is less than the minimum of 1``. No job imports this
module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ltpipe.config import ConfigError
from ltpipe.registry import check_config

__all__ = ["SCHEMA_PATH", "validate"]

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


def _path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        parts += extra[:1]
    elif error.validator == "required":
        parts.append(error.message.split("'")[1])
    return ".".join(parts) or "<top level>"


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        target = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _coerce(value: Any, node: dict[str, Any], root: dict[str, Any]) -> Any:
    """Turn the strings of a nested ``--config`` value into the schema's scalar types, in place."""
    node = _resolve(node, root)
    if isinstance(value, dict):
        props = node.get("properties", {})
        for key, item in value.items():
            if key in props:
                value[key] = _coerce(item, props[key], root)
        return value
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_coerce(v, node["items"], root) for v in value]
    if isinstance(value, str):
        types = node.get("type", [])
        types = [types] if isinstance(types, str) else types
        if not types and "enum" in node:
            types = sorted({type(v).__name__ for v in node["enum"]} - {"str"})
        if "string" not in types and any(t in types for t in ("boolean", "integer", "number", "null")):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                return value
            if isinstance(parsed, str) and "number" in types:
                try:  # YAML 1.1 reads 1e-3 (no dot) as a string; JSON writes it so
                    parsed = float(value)
                except ValueError:
                    return value
            if not isinstance(parsed, (dict, list, str)):
                return parsed
        if "null" in types and value == "null":
            return None
    return value


def validate(config: dict[str, Any], schema_path: str | os.PathLike = SCHEMA_PATH) -> None:
    """Raise :class:`ConfigError` naming every offending key's dotted path.

    Snakemake hands nested ``--config`` values over as strings (``--config
    data='{"mnist": {"download": false}}'`` gives the string ``"false"``);
    where the schema asks for a boolean, number or null such strings are
    first converted in place, so that command line works as written.
    """
    with open(schema_path) as fh:
        schema = yaml.safe_load(fh)
    _coerce(config, schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    lines = []
    for e in errors:
        message = e.message
        if e.validator == "additionalProperties":
            message = "unknown key (allowed: " + ", ".join(sorted(e.schema.get("properties", {}))) + ")"
        lines.append(f"  {_path(e)}: {message}")
    if not errors:  # what the schema cannot say, each experiment's declaration checks
        lines += check_config(config)
    if lines:
        raise ConfigError("invalid config:\n" + "\n".join(lines))
