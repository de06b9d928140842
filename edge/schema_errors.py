"""One way to turn JSON-Schema validation errors into one short, stable sentence."""

from __future__ import annotations

from typing import Any

import jsonschema

MAX_MESSAGE = 300


def first_error(validator: jsonschema.protocols.Validator,
                obj: Any) -> jsonschema.ValidationError | None:
    """The error at the smallest path (the same one every run), or None if `obj` is valid."""
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    return errors[0] if errors else None


def describe(error: jsonschema.ValidationError, *, root: str = "",
             whole: str = "(root)") -> str:
    """``<root>/<path>: <message>``; `whole` names the place when both are empty. Long
    messages (which quote the offending value) are cut at MAX_MESSAGE characters."""
    path = "/".join(str(p) for p in error.absolute_path)
    where = f"{root}/{path}" if root and path else (root or path or whole)
    message = error.message
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "..."
    return f"{where}: {message}"


def first_problem(validator: jsonschema.protocols.Validator, obj: Any, *, root: str = "",
                  whole: str = "(root)") -> str | None:
    """`describe` of `first_error`, or None if `obj` is valid."""
    error = first_error(validator, obj)
    return None if error is None else describe(error, root=root, whole=whole)


def describe_without_values(error: jsonschema.ValidationError, *, root: str = "",
                            whole: str = "(root)") -> str:
    """Like `describe`, but says what rule failed from the schema's side only: never quotes
    the offending value (or an unexpected property's name), which may be text we must not
    repeat in logs, events or answers."""
    path = "/".join(str(p) for p in error.absolute_path)
    where = f"{root}/{path}" if root and path else (root or path or whole)
    kw, value = str(error.validator), error.validator_value
    rules: dict[str, str] = {
        "type": f"must be of type {value}",
        "pattern": f"does not match the pattern {value}",
        "maxLength": f"is longer than {value} characters",
        "minLength": f"is shorter than {value} characters",
        "maxItems": f"has more than {value} items",
        "minItems": f"has fewer than {value} items",
        "uniqueItems": "has repeated items",
        "maximum": f"is above the maximum {value}",
        "minimum": f"is below the minimum {value}",
        "enum": f"is not one of {value}",
        "const": f"must be {value!r}",
        "additionalProperties": "has a property that is not allowed here",
        "oneOf": "must match exactly one of the allowed forms",
        "anyOf": "must match one of the allowed forms",
    }
    # `required` names the missing property, which comes from the schema.
    message = error.message if kw == "required" else rules.get(
        kw, f"fails the schema rule {kw!r}")
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "..."
    return f"{where}: {message}"


def first_problem_without_values(validator: jsonschema.protocols.Validator, obj: Any, *,
                                 root: str = "", whole: str = "(root)") -> str | None:
    """`describe_without_values` of `first_error`, or None if `obj` is valid."""
    error = first_error(validator, obj)
    return None if error is None else describe_without_values(error, root=root, whole=whole)
