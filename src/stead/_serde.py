"""JSON at the journal boundary: arguments, results and messages are JSON, never pickle.

Values may be JSON primitives, lists, dicts with string keys, dataclasses and pydantic models (and what pydantic
knows how to dump: datetimes, UUIDs, enums, ...). When a type annotation is known, decoding rebuilds the typed
value, so a step annotated ``-> Order`` returns an ``Order`` both live and on replay.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from ._exceptions import SerializationError

__all__ = ["REDACTED", "decode", "dumps", "fingerprint", "loads", "redacted", "step_result", "to_json_value"]

_PRIMITIVES = (str, int, float, bool, type(None))


def _plain(value: Any) -> bool:
    """Fast path: values made only of JSON primitives, lists and str-keyed dicts."""
    if isinstance(value, _PRIMITIVES):
        return True
    if type(value) is list:
        return all(_plain(v) for v in value)
    if type(value) is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def to_json_value(value: Any, what: str) -> Any:
    """``value`` as plain JSON data; ``what`` names it in the error ("the result of step 'fetch'")."""
    if _plain(value):
        return value
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError as exc:
        raise SerializationError(
            f"{what} is not JSON-serializable ({type(value).__name__}): {exc}. stead journals JSON only: use "
            "str, int, float, bool, None, lists, dicts with string keys, dataclasses or pydantic models."
        ) from None


def dumps(value: Any, what: str) -> str:
    data = to_json_value(value, what)
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:  # NaN/inf, circular references
        raise SerializationError(f"{what} is not JSON-serializable: {exc}") from None


def step_result(step: str, value: Any) -> tuple[Any, str]:
    """What a step returned, as JSON data and as its JSON text; every engine checks a result with this."""
    data = to_json_value(value, f"the result of step {step!r}")
    return data, dumps(data, f"the result of step {step!r}")


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@functools.lru_cache(maxsize=512)
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def decode(data: Any, annotation: Any, what: str) -> Any:
    """Rebuild a typed value from JSON data. ``Any`` or a missing annotation returns the data as is."""
    if annotation is Any or annotation is None or annotation is type(None):
        return data
    try:
        adapter = _adapter(annotation)
    except TypeError:  # unhashable or not an annotation pydantic understands: keep the JSON value
        return data
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise SerializationError(
            f"{what} cannot be read back as {_type_name(annotation)}: {_problems(exc)}"
        ) from None
    except Exception as exc:
        raise SerializationError(f"{what} cannot be read back as {_type_name(annotation)}: {exc}") from None


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else repr(annotation)


def _problems(exc: ValidationError) -> str:
    """pydantic's errors in a line each, without its documentation links (they are noise on a command line)."""
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        lines.append(f"{where + ': ' if where else ''}{error['msg']} (got {error['input']!r})")
    return "; ".join(lines)


def fingerprint(text: str) -> str:
    """A short, stable digest of a JSON text, to tell on replay whether a step's inputs changed."""
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"api[-_]?key|authori[sz]ation|secret|passw(or)?d|cookie|credential|token$", re.I)
_SECRET_VALUE = re.compile(r"^(sk-[A-Za-z0-9_-]{8,}|Bearer\s+\S+)", re.I)


def redacted(value: Any) -> Any:
    """``value`` with the values of keys named like secrets (``api_key``, ``Authorization``, ``*token``, ...) and
    strings that look like keys (``sk-…``, ``Bearer …``) replaced by ``[redacted]``: pages and journals show no secret."""
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and _SECRET_KEY.search(k) and v not in (None, "")
            else redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redacted(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.match(value):
        return REDACTED
    return value
