"""Text logs in no known format, read by their shape when no metric definitions are given.

Trainers print their own lines - llm.c's ``s:12 trl:9.85 lr:0.00001 norm:3.41`` and ``step 1/19560 |
loss 3.2 | norm 0.9 | lr 6e-4``, MiniMind's ``Epoch:[1/1](12/9751), Reward: -2.3, KL_ref: 0.001`` - and
a user should not have to write regexes to watch them. A *metric line* carries a step counter and at
least one numeric key/value pair:

- pairs: ``key: value`` and ``key=value`` anywhere in the line (a key is up to four words:
  ``Avg Response Len: 207.4``), ``key value`` as a ``|``-separated segment (``| loss 3.28 |``), and a
  line that is only ``label value`` (``val loss 3.28``, which takes the last step seen);
- the step: a step-named key (``step``, ``s``, ``iter``, ``iteration``, ``global_step`` ...; also
  ``step N/M``), else an ``N/M`` counter - the one with the largest total, so ``Epoch:[1/1](12/9751)``
  gives 12.

A file is read this way when at least ``MIN_LINES`` metric lines share one set of keys. Keys seen on
at least two lines are taken as metrics, through the canonical map (a multi-word key is also tried
without its leading words, with spaces as underscores: ``Avg Response Len`` -> ``response_length``),
and the run's warnings say which keys were taken and from how many lines. Values a unit is glued to
(``30.03M``, ``35.6%``, ``4.59s/it``) are not read. Metric definitions, when given, win: the sniffer
only falls back to this reader for a file no other reader recognises.
"""

from __future__ import annotations

import re
from collections import Counter

from ..schema import STEP_LIMIT, RunInfo, canonical_key
from ._tidy import empty_records, records_from_lists
from ._values import NUMBER, unwrap

FORMAT = "autoread"
MIN_LINES = 5  # metric lines sharing one key set before a file is read this way (a handful proves nothing)
SNIFF_LINES = 20000  # lines of the head looked at when sniffing
WARNING_PREFIX = "read without metric definitions"

_END = r"(?=$|[\s,;|)\]}])"
_KEY = r"[A-Za-z_][\w./@-]*(?: [A-Za-z_][\w./@-]*){0,3}"
_PAIR = re.compile(r"(?:^|(?<=[\s,;|(\[{]))(" + _KEY + r")\s*[:=]\s*(" + NUMBER + r")" + _END)
_SEGMENT = re.compile(r"^\s*(" + _KEY + r")\s+(" + NUMBER + r")" + _END)
_ALONE = re.compile(r"^\s*([A-Za-z][A-Za-z _/-]{0,40}?)\s+(" + NUMBER + r")\s*$")
_STEP_KEYS = {"step", "s", "iter", "iteration", "global_step", "it", "steps", "current_step", "train_step", "update",
              "global step", "current_steps"}
_STEP_NAMED = re.compile(r"(?:^|(?<=[\s,;|(\[{]))(?:global_step|global step|current_steps?|train_step|iteration|iter|steps?|it|s|update)"
                         r"\s*[:=]?\s*\[?\s*(\d+)(?:\s*/\s*\d+)?(?=$|[\s,;:|)\]}])", re.IGNORECASE)
_COUNTER = re.compile(r"(\d+)\s*/\s*(\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Spellings of text logs that the canonical map does not know (keys lower-cased, spaces as underscores).
ALIASES = {
    "avg_response_len": "response_length", "avg_len": "response_length", "response_len": "response_length",
    "avg_length": "response_length", "mean_length": "response_length", "completion_len": "response_length",
    "avg_response_length": "response_length", "response_length": "response_length",
    "actor_loss": "policy_loss", "pg_loss": "policy_loss", "policy_loss": "policy_loss",
    "val_loss": "val_loss", "eval_loss": "val_loss", "valid_loss": "val_loss", "validation_loss": "val_loss",
    "train_loss": "train_loss", "training_loss": "train_loss", "grad_norm": "grad_norm", "gradient_norm": "grad_norm",
    "learning_rate": "learning_rate", "kl": "kl", "kl_ref": "kl", "entropy": "entropy", "reward": "reward",
}


def metric_name(key: str) -> str:
    """A text log's key -> its canonical name (or the key itself, when nothing matches)."""
    key = " ".join(key.split())
    name, _ = canonical_key(key)
    if name != key:
        return name
    words = key.split(" ")
    for start in range(len(words)):
        tail = " ".join(words[start:])
        name, _ = canonical_key(tail)
        if name != tail:
            return name
        flat = tail.lower().replace(" ", "_").replace("-", "_")
        if flat in ALIASES:
            return ALIASES[flat]
        name, _ = canonical_key(flat)
        if name != flat:
            return name
    return key


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_line(text: str) -> tuple[int | None, dict[str, float]]:
    """(step or None, {source key: value}) of one line."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    text = unwrap(text)
    step = None
    named = _STEP_NAMED.search(text)
    if named:
        step = int(named.group(1))
    else:
        counters = [(int(m.group(2)), int(m.group(1))) for m in _COUNTER.finditer(text)]
        counters = [c for c in counters if c[0] > 1]
        if counters:
            step = max(counters)[1]
    pairs: dict[str, float] = {}
    for key, value in _PAIR.findall(text):
        if key.lower() not in _STEP_KEYS:
            number = _number(value)
            if number is not None:
                pairs.setdefault(key, number)
    if "|" in text:
        for segment in text.split("|"):
            match = _SEGMENT.match(segment)
            if match and match.group(1).lower() not in _STEP_KEYS and ":" not in segment and "=" not in segment:
                number = _number(match.group(2))
                if number is not None:
                    pairs.setdefault(match.group(1), number)
    if not pairs:
        alone = _ALONE.match(text)
        if alone and alone.group(1).strip().lower() not in _STEP_KEYS:
            number = _number(alone.group(2))
            if number is not None:
                pairs[alone.group(1).strip()] = number
    if step is not None and abs(step) >= STEP_LIMIT:
        step = None
    return step, pairs


def _may_hold_a_number(part: str) -> bool:
    return any(c.isdigit() for c in part) or "nan" in part.lower() or "inf" in part.lower()


def _lines(text: str):
    for raw in text.split("\n"):
        raw = raw.replace("#015", "\r")
        yield raw.split("\r") if "\r" in raw else [raw]


def looks_like(text: str) -> bool:
    """At least MIN_LINES lines with a step and the same set of numeric keys (the sniffer's test)."""
    shapes: Counter = Counter()
    for number, parts in enumerate(_lines(text)):
        if number >= SNIFF_LINES:
            break
        for part in parts:
            if not _may_hold_a_number(part):
                continue
            step, pairs = read_line(part)
            if step is not None and pairs:
                shape = frozenset(pairs)
                shapes[shape] += 1
                if shapes[shape] >= MIN_LINES:
                    return True
    return False


def parse_text(text: str, info: RunInfo, *, first_line: int = 1, seq_start: int = 0, carry: dict):
    """Complete lines -> records. ``carry`` keeps, across reads of a growing file: the last step, each
    key's line count. The first value of a key is held back until the key recurs within the same read."""
    seen: dict[str, int] = carry.setdefault("auto_seen", {})
    # A first value held back in an earlier read is not emitted later: its step would look like a restart.
    pending: dict[str, list] = {}
    last_step = carry.get("last_step")
    seq, line_no, steps, metrics, values = [], [], [], [], []
    counter = seq_start
    for offset, parts in enumerate(_lines(text)):
        for part in parts:
            if not _may_hold_a_number(part):
                continue
            step, pairs = read_line(part)
            if not pairs:
                if step is not None and _COUNTER.search(part) is None:
                    last_step = step
                continue
            if step is None:
                if last_step is None:
                    continue  # a number before any step: a banner or a config dump
                step = last_step
            else:
                last_step = step
            line = first_line + offset
            for key, value in pairs.items():
                seen[key] = seen.get(key, 0) + 1
                if seen[key] == 1:
                    pending[key] = [counter, line, step, value]
                    continue
                if key in pending:
                    p_seq, p_line, p_step, p_value = pending.pop(key)
                    seq.append(p_seq), line_no.append(p_line), steps.append(p_step)
                    metrics.append(metric_name(key)), values.append(p_value)
                seq.append(counter), line_no.append(line), steps.append(step)
                metrics.append(metric_name(key)), values.append(value)
            counter += 1
    carry["last_step"] = last_step
    _say_what_was_taken(info, seen)
    if not seq:
        return empty_records()
    order = sorted(range(len(seq)), key=lambda i: seq[i])
    pick = lambda column: [column[i] for i in order]  # noqa: E731 - a pending first value goes back in file order
    return records_from_lists(pick(seq), pick(line_no), pick(steps), pick(metrics), pick(values))


def _say_what_was_taken(info: RunInfo, seen: dict[str, int]) -> None:
    taken = sorted(((k, n) for k, n in seen.items() if n >= 2), key=lambda kn: (-kn[1], kn[0]))
    if not taken:
        return
    parts = []
    for key, count in taken:
        name = metric_name(key)
        parts.append(f"{name} ({key!r}) from {count} lines" if name != key else f"{key!r} from {count} lines")
    ignored = sum(1 for n in seen.values() if n < 2)
    message = (f"{WARNING_PREFIX}: the keys recurring on lines with a step counter were taken as metrics - "
               + ", ".join(parts) + (f"; {ignored} key(s) seen on one line only were ignored" if ignored else "")
               + ". Supply metric definitions to choose them yourself.")
    info.warnings[:] = [w for w in info.warnings if not w.startswith(WARNING_PREFIX)] + [message]
