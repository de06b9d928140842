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
