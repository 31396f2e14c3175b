"""Facts worked out from a run's frame once and kept while the frame lives.

The dashboard draws the same cached run for every rerun of every session: its x-axes, each metric's
series, its incident window would otherwise be worked out again from millions of rows each time.
Facts are kept only for frames whose holder promised never to change them in place (``keep_facts``:
the dashboard's runs, where a live run grows into a new frame). Any other frame's facts are worked
out on every call: a library user may change a loaded frame in place, and must see the change drawn.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")
_facts: dict[int, dict[str, object]] = {}  # id(frame) -> name -> fact, for kept frames while they live
_lock = threading.Lock()


def keep_facts(frame: pd.DataFrame) -> None:
    """Keep what is worked out from ``frame`` until it is freed: its holder never changes it in place."""
    key = id(frame)
    with _lock:
        if key not in _facts:
            _facts[key] = {}
            weakref.finalize(frame, _facts.pop, key, None)


def kept(frame: pd.DataFrame) -> bool:
    """Whether ``frame``'s facts are kept (``keep_facts`` was called and the frame lives)."""
    return id(frame) in _facts


def remembered(frame: pd.DataFrame, name: str, compute: Callable[[pd.DataFrame], T]) -> T:
    """``compute(frame)``; for a kept frame, worked out on the first call for ``name`` and kept.

    Two sessions asking at once may both compute it; either answer is the same."""
    facts = _facts.get(id(frame))
    if facts is None:
        return compute(frame)
    if name not in facts:
        facts[name] = compute(frame)
    return facts[name]
