"""Tolerant reading of Gen 3 response bodies (pure).

Real units emit a literal ``nan`` (not JSON) and sometimes drop the closing ``}``.
:func:`decode_body` repairs exactly those two faults and nothing else: non-finite
numbers become ``None`` ("no value"), and the object's final ``}`` is supplied when the
text stops cleanly right before it. A body cut off deeper (inside a list or a nested
object) is refused rather than guessed at, since closing it could silently drop values.
Anything else is a :class:`Gen3ResponseError`.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from ..exceptions import Gen3ResponseError

# A JSON string (kept as is) or a bare non-finite number token outside strings.
_NON_FINITE = re.compile(
    r'"(?:[^"\\]|\\.)*"|(?<![\w.])[-+]?(?:nan|inf(?:inity)?)(?![\w.])',
    re.IGNORECASE,
)
_CLOSERS = {"{": "}", "[": "]"}
#: How much of a bad body an error message quotes.
_QUOTE = 80


def decode_body(data: str | bytes) -> dict[str, Any]:
    """Decode one endpoint's body into a dict, repairing ``nan`` and a missing ``}``."""
    text = _text(data)
    cleaned = _NON_FINITE.sub(_null_if_bare, text)
    try:
        value = json.loads(cleaned)
    except json.JSONDecodeError as err:
        value = _close_truncated(cleaned, err, text)
    if not isinstance(value, dict):
        raise Gen3ResponseError(f"body is JSON but not an object: {_quote(text)}")
    return value


def _text(data: str | bytes) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise Gen3ResponseError(f"body is not UTF-8: {err}") from err


def _null_if_bare(match: re.Match[str]) -> str:
    token = match.group(0)
    return token if token.startswith('"') else "null"


def _close_truncated(cleaned: str, err: json.JSONDecodeError, original: str) -> Any:
    # Only a body that stops cleanly (the error is at its very end) right where its one
    # top-level object should close may be completed.
    stops_cleanly = bool(cleaned.strip()) and err.pos >= len(cleaned.rstrip())
    if stops_cleanly and _missing_closers(cleaned) == "}":
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(cleaned.rstrip() + "}")
    raise Gen3ResponseError(f"body is not JSON ({err.msg}): {_quote(original)}") from err


def _missing_closers(text: str) -> str:
    """The brackets still open at the end of ``text``, or "" inside an unterminated string."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in "}]" and stack:
            stack.pop()
    return "" if in_string else "".join(reversed(stack))


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE else text[:_QUOTE] + "…")
