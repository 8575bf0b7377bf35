"""Strict reading of Gen 3 response bodies (pure).

Real units emit a literal ``nan`` (not JSON) and sometimes drop the closing ``}``; public
reports also show bodies cut deeper than that (home-assistant/core#81443, #75011).
:func:`decode_body` repairs exactly the two known faults and refuses everything else, since a
guessed body is a wrong reading (``"evse_state":1`` cut from ``11`` says "not connected" while
the car charges). Anything refused is a :class:`Gen3ResponseError`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..exceptions import Gen3ResponseError
from .model import Endpoint, always_sent

# A JSON string (kept as is) or a bare non-finite number token outside strings.
_NON_FINITE = re.compile(
    r'"(?:[^"\\]|\\.)*"|(?<![\w.])[-+]?(?:nan|inf(?:inity)?)(?![\w.])',
    re.IGNORECASE,
)
_CLOSERS = {"{": "}", "[": "]"}
#: Values complete in themselves: nothing a cut removed could have followed them.
_LITERALS = ("true", "false", "null")
#: How much of a bad body an error message quotes.
_QUOTE = 80
#: Real bodies are one object holding flat lists (depth 2); anything much deeper is not a body.
MAX_DEPTH = 8
#: The longest number accepted, in characters: real values have at most a dozen
#: (``1945056``, ``22128.301``); a longer one is garbage, and a huge integer costs
#: quadratic time to convert.
MAX_NUMBER_CHARS = 24


def decode_body(data: str | bytes, endpoint: Endpoint | str | None = None) -> dict[str, Any]:
    """Decode one endpoint's body into a dict; raise :class:`Gen3ResponseError` if unreadable.

    Repairs, and nothing else:

    * a bare ``nan``/``inf`` (any spelling, outside strings) reads as ``None``;
    * a missing final ``}`` is supplied only when the body is otherwise complete:

      1. the text stops where its one top-level object would close: not inside a string,
         with no list or nested object left open;
      2. the last value cannot have been cut: it ends in ``"``, ``]`` or ``}``, or is
         ``true``/``false``/``null``. A number is *never* taken as complete, because a
         cut inside it leaves a valid, different number (``1`` from ``11``, ``1380`` from
         ``13802``, ``0`` from ``0.5``), and nothing in the text tells the two apart;
      3. when ``endpoint`` is given, every field the body's firmware generation always sends
         there (:func:`~twcdirector.gen3.model.always_sent`) is present: a body cut right
         after a complete value still lacks the fields that followed it.

    Also refused: nesting deeper than :data:`MAX_DEPTH`, a number longer than
    :data:`MAX_NUMBER_CHARS` characters or beyond the float range, text that is not UTF-8,
    and JSON that is not an object.
    """
    text = _text(data)
    cleaned = _NON_FINITE.sub(_null_if_bare, text)
    closers, depth = _scan(cleaned)
    if depth > MAX_DEPTH:
        raise Gen3ResponseError(
            f"body is nested {depth} deep (at most {MAX_DEPTH}): {_quote(text)}"
        )
    try:
        value = _loads(cleaned)
    except json.JSONDecodeError as err:
        value = _close_truncated(cleaned, err, text, closers, endpoint)
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


def _loads(text: str) -> Any:
    return json.loads(text, parse_int=_integer, parse_float=_float)


def _integer(token: str) -> int:
    if len(token) > MAX_NUMBER_CHARS:
        raise Gen3ResponseError(f"body has a number of {len(token)} digits: {token[:_QUOTE]}…")
    return int(token)


def _float(token: str) -> float:
    value = float(token) if len(token) <= MAX_NUMBER_CHARS else math.inf
    if math.isinf(value):
        raise Gen3ResponseError(f"body has a number out of range: {token[:_QUOTE]}")
    return value


def _close_truncated(
    cleaned: str,
    err: json.JSONDecodeError,
    original: str,
    closers: str | None,
    endpoint: Endpoint | str | None,
) -> Any:
    refused = f"body is not JSON ({err.msg}): {_quote(original)}"
    end = cleaned.rstrip()
    # Rule 1: the error is at the very end, where the one top-level object should close.
    if not end or err.pos < len(end) or closers != "}":
        raise Gen3ResponseError(refused) from err
    # Rule 2: the last value is one no cut could have shortened.
    if not (end[-1] in '"]}' or end.endswith(_LITERALS)):
        if end[-1].isdigit():
            raise Gen3ResponseError(
                f"body may be cut: it ends in a number without its closing brace: {_quote_end(end)}"
            ) from err
        raise Gen3ResponseError(refused) from err
    try:
        value = _loads(end + "}")
    except json.JSONDecodeError:
        raise Gen3ResponseError(refused) from err
    # Rule 3: nothing its firmware always sends is missing after the last value.
    missing = (
        [] if endpoint is None else [n for n in always_sent(endpoint, value) if n not in value]
    )
    if missing:
        raise Gen3ResponseError(
            f"body may be cut: no closing brace and no {', '.join(missing)}: {_quote_end(end)}"
        ) from err
    return value


def _scan(text: str) -> tuple[str | None, int]:
    """The brackets still open at the end of ``text`` (``None`` inside an unterminated
    string), and the deepest nesting reached."""
    stack: list[str] = []
    deepest = 0
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
            deepest = max(deepest, len(stack))
        elif char in "}]" and stack:
            stack.pop()
    return (None if in_string else "".join(reversed(stack))), deepest


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE else text[:_QUOTE] + "…")


def _quote_end(text: str) -> str:
    return repr(text if len(text) <= _QUOTE else "…" + text[-_QUOTE:])
