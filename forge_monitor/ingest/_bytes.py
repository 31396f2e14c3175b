"""One byte value in a large buffer: counted (newlines for line numbers, colons for the JSONL guard) or found."""

from __future__ import annotations

import numpy as np


def count_byte(data: bytes, value: int) -> int:
    """How many times the byte ``value`` occurs in ``data``.

    numpy's vectorised compare counts the 90 MB of the 1,000,000-line JSONL bench in about 0.04 s;
    ``bytes.count`` takes about 0.07 s (measured on this machine). Any buffer works: bytes, a map.
    """
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == value))


def find_byte(data, value: int) -> np.ndarray:
    """Positions of every byte ``value`` in ``data``, ascending (int64).

    Compared a megabyte at a time, so the temporary mask stays in the CPU's cache: 0.045 s for the
    243 MB of the 1,000,000-line Nova bench log, against 0.07 s for one compare of the whole buffer.
    """
    codes = np.frombuffer(data, dtype=np.uint8)
    step = 1 << 20
    found = [np.flatnonzero(codes[start:start + step] == value) + start for start in range(0, len(codes), step)]
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)
