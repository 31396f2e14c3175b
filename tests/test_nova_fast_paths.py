"""The Nova/verl parser's shortcuts give exactly what the plain path gives.

Each shortcut in ``ingest/nova.py`` (issue 15: a cheaper way to the same records) can be switched
off by replacing one module-level function with the plain version; thousands of generated lines, made
of the pieces where the shortcuts' reasoning could slip (separators that overlap, heads with and
without colons, timestamps, both step forms, values that are not numbers), must parse to the same
records and the same skipped-line reasons either way. Real third-party logs are compared too.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from forge_monitor.ingest import nova
from forge_monitor.schema import RunInfo

REAL_RUNS = Path(__file__).resolve().parents[2] / "shared" / "real-runs"

_HEADS = [
    "[2026-01-28 17:48:54,839] [INFO] Training epoch 0, iteration {i}/9",
    "[2026-01-28 17:48:54.839] Training epoch 2, iteration {i}/9,",
    "[2026-01-28 17:48:54,839] [INFO] note: x",
    "[2026-01-28 17:48:54,839]x [WARN]",
    "Training epoch 1, iteration {i}/9 -",
    "Epoch 1: : {i}it [00:32, 10.68s/it, v_num=1feb",
    "(TaskRunner pid=12647)",
    "\x1b[36m(TaskRunner pid=1)\x1b[0m",
    "iteration {i}",
    "",
    "  ",
    "a | b",
    "2026-01-28 17:48:54,839 [INFO] nlp.py:12 -",
    "[job-1] [2026-01-28 17:48:54,839] [INFO]",
    "训练 {i}",  # a head in another script: polars counts bytes in some string functions, characters in others
    "[2026-01-28 17:48:54,839] [INFO] Schritt fertig ✓",
]
_SEPARATORS = [" | ", " | ", " | ", " - ", ", ", "[", "]", ",", " -", "|", " ", " , ", " - | ", ", | "]
_KEYS = ["lr", "reduced_train_loss", "grad_norm", "global_batch_size", "train_step_timing in s", "consumed_samples",
         "actor/entropy", "critic/rewards/mean", "val_loss", "1abc", "(x) y", "train step", "epoch", "v_num",
         "iteration", "a.py", "k@2", "loss(1e-3)", "ratio", "  spaced  "]
_VALUES = ["1e-05", "0.5", "-3", "nan", "NaN", "inf", "-inf", "1/2", "abc", "np.float64(0.25)", "tensor(1.5)",
           "tensor(2.0, device='cuda:0')", "", "1,5", "12:30", "1e400", "+7", ".5", "3.", "Decimal('1')"]
_STEPS = ["global_step: {s}", "global_step={s}.000", "global_step:{s}", "step:{s}", "global_step: 1e30",
          "global_step: nan", "step: {s}", "x\x1b[0mstep:{s}", "x\\033[0mstep:{s}", "step:np.int64({s})",
          "step:\x1b[0m{s}", "x\rstep:{s}", "x#015step:{s}", "global_\x1b[0mstep:{s}"]


def _line(rng: random.Random, index: int) -> str:
    parts = [rng.choice(_HEADS).format(i=index)]
    fields = [rng.choice(_STEPS).format(s=index)] if rng.random() < 0.95 else []
    for _ in range(rng.randint(0, 7)):
        key, value = rng.choice(_KEYS), rng.choice(_VALUES)
        fields.append(f"{key}{rng.choice([': ', ':', '=', ' : ', ':  '])}{value}{rng.choice(['', ' ', '  '])}")
    rng.shuffle(fields)
    for field in fields:
        parts.append(rng.choice(_SEPARATORS))
        parts.append(field)
    line = "".join(parts)
    if rng.random() < 0.05:
        line += rng.choice(["]     2025-12-17 04:54:49,774 [INFO] - nlp_overrides.py:552 - Time", '{"a": 1}', " [ERROR] x"])
    if rng.random() < 0.03:
        line = line + "\r" + line.replace("0.5", "0.6")
    if rng.random() < 0.02:
        line = line + "#015" + line
    return line


def _generated(n: int, seed: int) -> str:
    rng = random.Random(seed)
    lines = [_line(rng, i) for i in range(1, n + 1)]
    # Long runs of one shape too, as real logs have, so a shortcut for the common shape is exercised.
    template = "[2026-01-28 17:48:54,839] [INFO] Training epoch 0, iteration {i}/9 | lr: 1e-05 | global_step: {i} | reduced_train_loss: {v} | grad_norm: 0.5"
    lines += [template.format(i=n + i, v=rng.choice(["0.5", "nan", "1e-3", "x"])) for i in range(1, 300)]
    return "\n".join(lines) + "\n"


def _parse(text: str | bytes) -> tuple[pl.DataFrame, list]:
    """As a file is read: its bytes."""
    info = RunInfo(run_id="t", source="", format="")
    records = nova.parse_text(text.encode("utf-8") if isinstance(text, str) else text, info)
    return records, [(s.line, s.reason, s.text) for s in info.skipped]


# Each shortcut, and the plain code it stands for.
_PLAIN = {
    "_without_bare_heads": lambda frame, column: frame,
    "_lines_of_bytes": lambda data: None,  # None: decoded to str and split by Python
    "_only_bar_steps": lambda marks: False,  # False: both step forms sought in one pass
    "_only_pipe_separators": lambda bodies: False,  # False: the separator regex splits every line
    "_may_have_prefix_epoch": lambda texts: True,  # True: the epoch pattern runs on every line
    "_refreshes": lambda text, marks: text.str.replace_all("#015", "\r", literal=True).str.split("\r"),
}


def _plain(monkeypatch) -> None:
    for name, plain in _PLAIN.items():
        monkeypatch.setattr(nova, name, plain)


@pytest.mark.parametrize("seed", range(6))
def test_generated_lines_parse_the_same_with_and_without_the_shortcuts(monkeypatch, seed):
    text = _generated(1500, seed)
    fast, fast_skipped = _parse(text)
    with monkeypatch.context() as patch:
        _plain(patch)
        plain, plain_skipped = _parse(text)
    assert fast.height > 1000  # the lines are metric lines, not noise the parser drops
    assert fast.equals(plain)
    assert fast_skipped == plain_skipped


def _real_logs() -> list[Path]:
    if not REAL_RUNS.is_dir():
        return []
    return sorted(p for p in REAL_RUNS.rglob("*") if p.is_file() and p.suffix in (".log", ".txt"))


@pytest.mark.skipif(not _real_logs(), reason="../shared/real-runs is not next to the project")
def test_real_logs_parse_the_same_with_and_without_the_shortcuts(monkeypatch):
    compared = 0
    for path in _real_logs():
        text = path.read_text(errors="replace")
        fast, fast_skipped = _parse(text)
        with monkeypatch.context() as patch:
            _plain(patch)
            plain, plain_skipped = _parse(text)
        assert fast.equals(plain), path.name
        assert fast_skipped == plain_skipped, path.name
        compared += fast.height > 0
    assert compared >= 1  # at least the verl log holds metric lines of this parser's shapes


@pytest.mark.parametrize("data", [b"", b"\n", b"\n\n", b"global_step: 1 | loss: 2", b"global_step: 1 | loss: 2\n\nx\n",
                                  b"global_step: 1 | loss: \xff2\nglobal_step: 2 | loss: 3\n", "global_step: 1 | l\u00f6ss: 2\n".encode()])
def test_lines_of_bytes_are_the_lines_python_splits(data):
    frame = nova._lines_frame(data, 7)
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines[-1] == "":
        lines.pop()
    assert frame["text"].to_list() == lines
    assert frame["line"].to_list() == list(range(7, 7 + len(lines)))
    assert frame.schema == pl.Schema({"line": pl.Int64, "text": pl.Utf8})


def test_bytes_that_are_not_utf8_are_read_with_replacement_characters():
    data = b"global_step: 1 | loss: 2 | \xff\xfe: 3\nglobal_step: 2 | loss: 4\n"
    records, skipped = _parse(data)
    text_records, text_skipped = _parse_text(data.decode("utf-8", errors="replace"))
    assert records.equals(text_records) and skipped == text_skipped
    assert records.filter(pl.col("metric") == "loss")["value"].to_list() == [2.0, 4.0]


def _parse_text(text: str):
    info = RunInfo(run_id="t", source="", format="")
    records = nova.parse_text(text, info)
    return records, [(s.line, s.reason, s.text) for s in info.skipped]


@pytest.mark.parametrize("disguised", ["\x1b[36m(TaskRunner pid=1)\x1b[0mstep:7 - loss:1.5", "x#015step:7 - loss:1.5",
                                       "x\rstep:7 - loss:1.5", "\\033[0mstep:7 - loss:1.5", "(w) step:np.int64(7) - loss:1.5"])
def test_a_verl_step_that_only_a_rewrite_reveals_is_still_found(monkeypatch, disguised):
    """The bar-form shortcut is taken for a whole text: one verl step made visible by a rewrite (colour
    codes removed, a carriage return split, a wrapped number read) must turn it off."""
    pipe = "[2026-01-28 17:48:54,839] [INFO] Training epoch 0, iteration {i}/9 | global_step: {i} | reduced_train_loss: 0.5"
    text = "\n".join([pipe.format(i=1), disguised, pipe.format(i=8)]) + "\n"
    fast, fast_skipped = _parse(text)
    with monkeypatch.context() as patch:
        _plain(patch)
        plain, plain_skipped = _parse(text)
    assert fast.equals(plain) and fast_skipped == plain_skipped
    assert 7 in fast["step"].to_list()


def _pipe_only(n: int, seed: int) -> str:
    """Pipe lines whose body has no separator but `` | ``, with the odd pieces a literal split could get wrong."""
    rng = random.Random(seed)
    heads = ["[2026-01-28 17:48:54,839] [INFO] Training epoch 0, iteration {i}/9", "Training epoch 3, iteration {i}/9",
             "iteration {i}", "[2026-01-28 17:48:54,839]", ""]
    pieces = ["lr: 1e-05", "global_step: {i}", "reduced_train_loss: {v}", "| x: 1", "", " ", "k: 1 |", "a:b:c", "| ",
              "epoch: 0.5", "grad_norm:nan", "t in s: 7", "bad: 1/2", "  spaced  :  3  "]
    lines = []
    for i in range(1, n + 1):
        body = [rng.choice(pieces).format(i=i, v=rng.random()) for _ in range(rng.randint(1, 6))] + [f"global_step: {i}"]
        rng.shuffle(body)
        lines.append(rng.choice(heads).format(i=i) + rng.choice([" | ", " |  | ", " | | "]) + " | ".join(body))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(4))
def test_pipe_only_lines_split_at_the_literal_give_what_the_separator_regex_gives(monkeypatch, seed):
    taken = []
    decide = nova._only_pipe_separators
    monkeypatch.setattr(nova, "_only_pipe_separators", lambda bodies: taken.append(decide(bodies)) or taken[-1])
    text = _pipe_only(800, seed)
    fast, fast_skipped = _parse(text)
    assert taken == [True]  # the literal split was taken for these lines
    with monkeypatch.context() as patch:
        _plain(patch)
        plain, plain_skipped = _parse(text)
    assert fast.height > 800 and fast.equals(plain) and fast_skipped == plain_skipped


@pytest.mark.parametrize("separator", [" - ", ", ", "[", "]"])
def test_one_line_with_another_separator_keeps_the_separator_regex(monkeypatch, separator):
    text = _pipe_only(50, 9) + f"iteration 9 | global_step: 99 | a: 1{separator}b: 2\n"
    fast, fast_skipped = _parse(text)
    with monkeypatch.context() as patch:
        _plain(patch)
        plain, plain_skipped = _parse(text)
    assert fast.equals(plain) and fast_skipped == plain_skipped
    assert set(fast.filter(pl.col("step") == 99)["metric"].cast(pl.Utf8)) == {"a", "b"}


@pytest.mark.parametrize("lines", [
    ["\x1b[36m(TaskRunner pid=1)\x1b[0m step:{i} - actor/entropy:0.5 - critic/score/mean:1"],
    ["Epoch 1: : {i}it [00:32, 10.68s/it, v_num=1feb, reduced_train_loss=0.5, global_step={i}.000]"],
    ["Training epoch 2, iteration {i}/9 | global_step: {i} | reduced_train_loss: 0.5"],
    ["Ep\x1b[0moch 3, iteration {i}/9 | global_step: {i} | reduced_train_loss: 0.5"],
])
def test_the_epoch_prefix_is_found_wherever_a_line_has_one(monkeypatch, lines):
    text = "".join(line.format(i=i) + "\n" for i in range(1, 30) for line in lines)
    fast, fast_skipped = _parse(text)
    with monkeypatch.context() as patch:
        _plain(patch)
        plain, plain_skipped = _parse(text)
    assert fast.equals(plain) and fast_skipped == plain_skipped
    assert ("epoch" in fast["metric"].cast(pl.Utf8).to_list()) == ("poch" in lines[0].replace("\x1b[0m", ""))


@pytest.mark.parametrize("joins", [("#015",), ("\r",), ("#015", "\r")])
def test_progress_bar_refreshes_split_the_same_at_either_form(monkeypatch, joins):
    bar = "Epoch 1: : {i}it [00:32, 10.68s/it, v_num=1feb, reduced_train_loss={v}, global_step={i}.000]"
    text = "".join(f"[2026-01-28 17:48:54,839] [INFO] {joins[i % len(joins)]}" + joins[0].join(
        bar.format(i=i, v=0.5 + k) for k in range(3)) + "\n" for i in range(1, 40))
    fast, fast_skipped = _parse(text)
    with monkeypatch.context() as patch:
        _plain(patch)
        plain, plain_skipped = _parse(text)
    assert fast.equals(plain) and fast_skipped == plain_skipped
    assert fast.filter(pl.col("metric") == "reduced_train_loss").height == 3 * 39  # every refresh read



@pytest.mark.parametrize("line", [
    "训练 | global_step: 3 | loss: 0.5", "ü | lr: 1 | global_step: 3",  # a head that is not ASCII
    "x step\x1b[0m:7 - loss: 1", " st\x1b[0mep:5 | global_step: 3 | loss: 1",  # a colour code inside verl's step
    "global_step=1.000, a=1\rglobal_step=2.000, a=2#01\x1b[0m5global_step=3.000, a=3",  # ... inside #015
    "global_step=1.000, a=1\rglobal_step=2.000, a=2#0np.int64(15)global_step=3.000, a=3",
    "global_step: 1 | a\x1fb: 2",  # the plain path's own separator mark
])
def test_lines_found_by_review_parse_the_same_with_and_without_the_shortcuts(monkeypatch, line):
    text = line + "\n"
    fast, fast_skipped = _parse(text)
    with monkeypatch.context() as patch:
        _plain(patch)
        plain, plain_skipped = _parse(text)
    assert plain.height > 0
    assert fast.equals(plain) and fast_skipped == plain_skipped
