"""Reading ``application/x-www-form-urlencoded`` bodies, as a server does.

Written for the sandbox apart from the client's encoder (``amp_notebook._form``):
the sandbox is the test oracle, so it decodes on its own. Vectorised with numpy
(a 1 MB identify body is a third escapes; the standard library's
``unquote_to_bytes`` takes ~0.1 s for it, this ~10 ms).
"""

from __future__ import annotations

import numpy as np

__all__ = ["FormError", "parse_form", "unquote_plus_bytes"]


class FormError(ValueError):
    """The body is not a well-formed urlencoded form."""


_HEX = np.full(256, -1, dtype=np.int16)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF", start=10):
    _HEX[_c] = _i


def unquote_plus_bytes(data: bytes) -> bytes:
    """``%XX`` -> the byte, ``+`` -> space (WHATWG urlencoded parsing, strict about ``%``)."""
    if b"%" not in data:
        return data.replace(b"+", b" ")
    a = np.frombuffer(data, dtype=np.uint8)
    pct = np.flatnonzero(a == 0x25)
    if pct[-1] + 2 >= a.size:
        raise FormError("a '%' without two hex digits at the end of a field")
    hi, lo = _HEX[a[pct + 1]], _HEX[a[pct + 2]]
    if (hi < 0).any() or (lo < 0).any():
        # (also catches a '%' inside another's two digits: '%' is not a hex digit)
        raise FormError("a '%' not followed by two hex digits")
    out = a.copy()
    out[out == 0x2B] = 0x20
    out[pct] = (hi * 16 + lo).astype(np.uint8)
    keep = np.ones(a.size, dtype=bool)
    keep[pct + 1] = False
    keep[pct + 2] = False
    decoded: bytes = out[keep].tobytes()
    return decoded


def parse_form(body: bytes) -> dict[str, bytes]:
    """name -> value (decoded bytes); a repeated name keeps its first value."""
    fields: dict[str, bytes] = {}
    for part in body.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        key = unquote_plus_bytes(name).decode("utf-8", errors="replace")
        if key not in fields:
            fields[key] = unquote_plus_bytes(value)
    return fields
