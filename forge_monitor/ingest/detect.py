"""Format detection by content (the file name only settles TensorBoard and a few ties)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from . import autoread

SNIFF_BYTES = 1 << 20  # real logs can open with a long preamble before the first metric line

# format -> how its bytes are consumed: appended lines, one whole document, or binary records
FORMAT_KIND = {
    "nova_progress": "lines",
    "nova_pipe": "lines",
    "verl": "lines",
    "hf_console": "lines",
    "llamafactory_jsonl": "lines",
    "jsonl": "lines",
    "bedrock_csv": "lines",
    "csv": "lines",
    "metric_definitions": "lines",
    "autoread": "lines",
    "hf_trainer_state": "document",
    "tensorboard": "records",
}

UNRECOGNIZED = (
    "unrecognized format — supply metric definitions (--metric-definitions FILE, "
    'SageMaker form: [{"Name": "train_loss", "Regex": "loss: ([0-9.eE+-]+)"}])'
)


class FormatError(ValueError):
    """A file that cannot be read as a training log; ``str()`` is the one-line reason."""


_GLOBAL_STEP = re.compile(r"global_step[=:]\s*[0-9]")
_PROGRESS_BAR = ("it/s, ", "s/it, ", "reduced_train_loss=")  # substrings: `in` is far faster than a regex alternation
_PIPE = re.compile(r"\| [A-Za-z_][\w/ ]*: ")
# verl's `step:N - key:value` line, at a line start or after a space / `)` / `]`. Searched from its
# literal part and the character before checked here: a pattern opening with an alternation is tried
# at every position (11 ms per MiB of a Nova log, against 0.3 ms), and sniffing is paid per file.
_VERL = re.compile(r"step:\d+ - [\w/@.-]+:")


def _has_verl_line(text: str) -> bool:
    return any(m.start() == 0 or text[m.start() - 1].isspace() or text[m.start() - 1] in ")]"
               for m in _VERL.finditer(text))

_LINE_EVIDENCE = {  # the text formats found inside free text: what a real metric line of each holds
    "verl": _has_verl_line,
    "nova_pipe": lambda line: bool(_GLOBAL_STEP.search(line)),
    "nova_progress": lambda line: bool(_GLOBAL_STEP.search(line)),
    "hf_console": lambda line: bool(_CONSOLE.search(line)),
}
_CONSOLE = re.compile(r"\{'(?:loss|eval_loss|reward|learning_rate|train_runtime|epoch)'|\{'[^{}]*'epoch': ")
_CSV_STEP = re.compile(r"(?:^|,)\s*(?:step|global_step|step_number|iteration|iter|current_steps)\s*(?:,|$)")


# What a file checked out without ``git lfs pull`` holds instead of its data (any name, any format).
LFS_POINTER = b"version https://git-lfs.github.com/spec/"
LFS_MESSAGE = "a Git LFS pointer, not the data (fetch the file with `git lfs pull`)"


def is_lfs_pointer(head: bytes) -> bool:
    return head.startswith(LFS_POINTER)


def is_tensorboard_name(path: Path) -> bool:
    return "tfevents" in path.name


def sniff_file(path: Path, *, has_definitions: bool = False, read=None) -> str:
    """``sniff`` on a file's first MiB, then on more of it (8, then 64 MiB) while it is only
    "unrecognized": a long preamble (a config dump, a banner) may precede the first metric line."""
    def head(limit: int) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(limit)

    read = read or head
    for limit in (SNIFF_BYTES, 8 * SNIFF_BYTES, 64 * SNIFF_BYTES):
        data = read(limit)
        try:
            return sniff(path, data, has_definitions=has_definitions)
        except FormatError as err:
            if str(err) != UNRECOGNIZED or len(data) < limit:
                raise
    raise FormatError(UNRECOGNIZED + f" (no metric line in the first {64 * SNIFF_BYTES >> 20} MiB)")


# Documentation, never a run (``scan README.md`` was read as a verl run from the README's format table).
DOC_SUFFIXES = {".md", ".markdown", ".rst", ".adoc", ".asciidoc", ".html", ".htm", ".tex", ".ipynb", ".org"}
PROSE = "prose, not a training log: its only metric-like lines are examples in markdown (table rows, code spans)"


def _is_markdown_line(line: str) -> bool:
    return line.lstrip().startswith(("|", "#", ">"))


def _evidence(text: str, found) -> bool:
    """Real evidence of metrics: at least one line where ``found(line)`` holds outside markdown - not
    in a table row, heading or quote, nor only inside a `code span`. A README quoting one example line
    per format in a table holds none; a log, however noisy, holds many. Fenced blocks count: a log
    pasted into an issue thread between ``` fences is a log (the LLaVA #918 excerpt)."""
    for line in io.StringIO(text):  # lazily: the first metric line usually settles it
        if _is_markdown_line(line) or not found(line):
            continue
        if line.count("`") >= 2:  # an example quoted in a code span
            outside = "".join(part for i, part in enumerate(line.split("`")) if i % 2 == 0)
            if not found(outside):
                continue
        return True
    return False


def sniff(path: Path, head: bytes, *, has_definitions: bool = False) -> str:
    """Name the format of a file from its first bytes. Raises FormatError with the reason."""
    fmt = _sniff(path, head, has_definitions=has_definitions)
    if FORMAT_KIND.get(fmt) == "lines" and fmt in _LINE_EVIDENCE:
        text = head.decode("utf-8", errors="replace")
        if not _evidence(text, _LINE_EVIDENCE[fmt]):
            raise FormatError(PROSE)
    return fmt


def _sniff(path: Path, head: bytes, *, has_definitions: bool = False) -> str:
    if is_lfs_pointer(head):
        raise FormatError(LFS_MESSAGE)
    if is_tensorboard_name(path):
        return "tensorboard"
    if path.suffix.lower() in DOC_SUFFIXES:
        raise FormatError(f"a documentation file ({path.suffix}), not a training log")
    if not head:
        raise FormatError("empty file (0 bytes)")
    # Binary is judged by proportion (> 1 % NUL bytes, > 25 % invalid UTF-8; random bytes are about
    # half invalid): one NUL line or a Latin-1 text column in a text log costs those lines (skipped
    # and explained by the parser), not the whole file.
    window = head[:8192]
    if window.count(b"\x00") > len(window) // 100:
        raise FormatError("binary data, not a text log")
    text = head.decode("utf-8", errors="replace")
    if text.count("\ufffd") > len(text) // 4:
        raise FormatError("binary data, not a text log (not UTF-8 text)")
    stripped = text.lstrip()
    if not stripped:
        raise FormatError("empty file (only whitespace)")
    if path.name == "trainer_state.json" or (stripped.startswith("{") and '"log_history"' in text):
        return "hf_trainer_state"
    first_line = stripped.split("\n", 1)[0].strip()
    if first_line.startswith("{") and first_line.endswith("}"):
        try:
            row = json.loads(first_line)
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict):
            return "llamafactory_jsonl" if "current_steps" in row else "jsonl"
    if "," in first_line and not first_line.startswith("[") and _CSV_STEP.search(first_line.lower()):
        header = {c.strip().lower() for c in first_line.split(",")}
        if "step_number" in header and header & {"training_loss", "validation_loss"}:
            return "bedrock_csv"
        return "csv"
    if _has_verl_line(text):
        return "verl"
    if _GLOBAL_STEP.search(text):
        if _PIPE.search(text) and "Training epoch" in text:
            return "nova_pipe"
        if any(marker in text for marker in _PROGRESS_BAR):
            return "nova_progress"
        return "nova_pipe" if _PIPE.search(text) else "nova_progress"
    if _CONSOLE.search(text):
        return "hf_console"
    if has_definitions:
        return "metric_definitions"
    if autoread.looks_like(text):
        return autoread.FORMAT  # metric lines found by their shape: a step counter and recurring numeric keys
    raise FormatError(UNRECOGNIZED)
