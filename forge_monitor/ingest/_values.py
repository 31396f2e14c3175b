"""Numbers as trainers print them inside text logs.

Besides plain floats (``0.83``, ``2.66e-5``, ``nan``), newer trainers print numpy scalars by their
repr (numpy 2: ``np.float64(-0.0044)``, ``np.int64(5)``; verl >= 0.4 does this) and torch scalars
as tensors (``tensor(0.5)``, ``tensor(0.5, device='cuda:0')``). ``unwrap`` turns each wrapped form
back into its number, one pattern for both polars (Rust regex) and Python's ``re``.

A value that looks like a number (or a call) but still cannot be read is not dropped silently: the
readers count and explain it like a bad line (``looks_numeric``).
"""

from __future__ import annotations

import re

NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|NaN|inf|Infinity)"
# np.float64(x), numpy.float32(x), np.int64(x), float32(x) ... and tensor(x[, device=..., dtype=...]).
WRAPPED = (
    r"(?:(?:np|numpy)\.(?:float|int|uint|longdouble|double|single|half)\d*\(\s*(" + NUMBER + r")\s*\)"
    r"|tensor\(\s*(" + NUMBER + r")\s*(?:,[^()]*)?\))"
)
# A trigger cheap enough to test a whole chunk of text before any regex runs.
MARKERS = ("np.", "numpy.", "tensor(")
# What a number-ish value starts with: a digit, a sign, a dot, or a call such as Decimal('1').
LOOKS_NUMERIC = r"^(?:[-+]?\.?\d|[A-Za-z_][\w.]*\()"

_WRAPPED = re.compile(WRAPPED)


def has_wrapped(text: str) -> bool:
    return any(marker in text for marker in MARKERS)


def unwrap(text: str) -> str:
    """Replace every wrapped number in ``text`` by the number itself."""
    if not has_wrapped(text):
        return text
    return _WRAPPED.sub(lambda m: m.group(1) or m.group(2), text)
