"""SLIP framing and the checksum (SPEC §2.1, §2.2)."""

from __future__ import annotations

from ..exceptions import EscapeError

END = 0xC0
ESC = 0xDB
ESC_END = 0xDC
ESC_ESC = 0xDD

_END = b"\xc0"
_ESC = b"\xdb"


def checksum(body_without_checksum: bytes) -> int:
    """Sum of every byte from offset 1 (the command byte) on, modulo 256 (SPEC §2.2)."""
    return sum(body_without_checksum[1:]) & 0xFF


def escape(body: bytes) -> bytes:
    """SLIP-escape a body: ``C0`` becomes ``DB DC`` and ``DB`` becomes ``DB DD``."""
    if _END not in body and _ESC not in body:
        return bytes(body)
    return bytes(body).replace(_ESC, b"\xdb\xdd").replace(_END, b"\xdb\xdc")


def unescape(raw: bytes) -> bytes:
    """Undo SLIP escaping; raise :class:`EscapeError` on a bad sequence."""
    if _ESC not in raw:
        return bytes(raw)
    out = bytearray()
    it = iter(raw)
    for byte in it:
        if byte != ESC:
            out.append(byte)
            continue
        nxt = next(it, None)
        if nxt == ESC_END:
            out.append(END)
        elif nxt == ESC_ESC:
            out.append(ESC)
        else:
            raise EscapeError(f"invalid escape DB {'end' if nxt is None else f'{nxt:02X}'}", raw)
    return bytes(out)


def add_checksum(body_without_checksum: bytes) -> bytes:
    """Append the checksum byte."""
    return bytes(body_without_checksum) + bytes((checksum(body_without_checksum),))


def frame(body: bytes) -> bytes:
    """Wrap a body (checksum included) for the wire: ``C0`` + escaped body + ``C0``, no tail."""
    return _END + escape(body) + _END
