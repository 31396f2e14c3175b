"""Writers for the real log formats (``reference/formats.md``), used by the sample logs and the tests.

Each writer takes ``rows``: a list of ``(step, {source_key: value})`` in logging order, and returns
the file's text (or bytes). Numbers are printed the way each producer prints them: NeMo's
ProgressPrinter uses 4 significant digits, tqdm's postfix 3, verl and ``trainer_state.json`` the full
repr of a float32 tensor's value, transformers 5 ``.4g`` strings.

Fixed precision is also what makes the sample logs identical on every machine: numpy picks its math
kernels per CPU (AVX-512, AVX2, ...), and they may differ in the last bits of a float64. A float32 (or
a few significant digits) of that value is the same everywhere, short of a value that sits on a
rounding boundary.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np

START = datetime(2026, 3, 1, 21, 0, 0, tzinfo=timezone.utc)


def trainer_float(value):
    """A value as a trainer logs it: a short decimal from the config (an LR of 1e-05, a coefficient of
    0.02) as it is, anything computed as the float32 of a tensor widened by ``.item()``; ints unchanged."""
    if isinstance(value, (bool, int, np.integer)) or not isinstance(value, (float, np.floating)):
        return value
    value = float(value)
    if not math.isfinite(value) or float(f"{value:.6g}") == value:
        return value
    return float(np.float32(value))


def stamp(seconds: float) -> str:
    """``[2026-03-01 21:16:40,581]`` - the timestamp prefix of Nova container lines."""
    moment = START + timedelta(seconds=seconds)
    return f"[{moment:%Y-%m-%d %H:%M:%S},{moment.microsecond // 1000:03d}]"


def _g(value: float, digits: int) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e6 and digits >= 4):
        return str(int(value))
    return f"{value:.{digits}g}"


def nova_pipe(rows, *, total: int, step_seconds: float, job: str | None = None, epoch_of=None) -> str:
    """NeMo ProgressPrinter lines: ``Training epoch E, iteration N/T | key: value | ...``."""
    prefix = f"[{job}] " if job else ""
    out = [f"{prefix}{stamp(0)} [INFO] Starting training"]
    for step, values in rows:
        if "val_loss" in values and len(values) == 1:
            out.append(f"{prefix}{stamp(step * step_seconds + 1)} [INFO] Validation: iteration 2/2 | "
                       f"global_step: {step} | val_loss: {_g(values['val_loss'], 4)}")
            continue
        epoch = epoch_of(step) if epoch_of else 0
        fields = " | ".join(f"{k}: {_g(v, 4)}" for k, v in values.items())
        out.append(f"{prefix}{stamp(step * step_seconds)} [INFO] Training epoch {epoch}, iteration "
                   f"{step}/{total} | {fields}")
    return "\n".join(out) + "\n"


def nova_progress(rows, *, step_seconds: float, samples_per_step: int, job: str | None = None,
                  repeats=None) -> str:
    """Lightning/NeMo tqdm bars: refreshes joined by ``#015``, the same step repeated, JSON glued on."""
    prefix = f"[{job}] " if job else ""
    out = [f"{prefix}{stamp(0)} [INFO] Starting SFT Job"]
    for index, (step, values) in enumerate(rows):
        n_refresh = repeats[index] if repeats is not None else 1
        bars = []
        for _ in range(n_refresh):
            post = ", ".join(f"{k}={_g(v, 3)}" for k, v in values.items())
            bars.append(f"Epoch 1: : {step}it [{int(step * step_seconds) // 60:02d}:{int(step * step_seconds) % 60:02d}, "
                        f"{step_seconds:.2f}s/it, v_num=1feb, {post}, global_step={step}.000, "
                        f"consumed_samples={step * samples_per_step}.0]")
        line = f"{prefix}{stamp(step * step_seconds)} [INFO] #015" + "#015".join(bars)
        if step % 5 == 0:
            # The side record the Nova container glues to a bar refresh (reference/formats.md 2.2 D).
            line += ('{\n"timestamp": "' + (START + timedelta(seconds=step * step_seconds)).strftime("%Y-%m-%d %H:%M:%S")
                     + f'",\n"epoch": 1,"stepId": {step},\n"stepType": "TRAIN","totalProcessedTokenCount": {step * 3402}\n}}')
        out.append(line)
    return "\n".join(out) + "\n"


def verl(rows, *, step_seconds: float, pid: int = 12647) -> str:
    """verl console lines ``step:N - key:value - ...`` behind a coloured Ray actor prefix."""
    out = [f"{stamp(0)} [INFO] Starting RFT Job"]
    for step, values in rows:
        fields = " - ".join(f"{k}:{'nan' if isinstance(v, float) and math.isnan(v) else trainer_float(v)}"
                            for k, v in values.items())
        out.append(f"{stamp(step * step_seconds)} [INFO] \x1b[36m(TaskRunner pid={pid})\x1b[0m step:{step} - {fields}")
    return "\n".join(out) + "\n"


def trainer_state(rows, *, header: dict, summary: dict | None = None) -> str:
    """HF ``trainer_state.json``: ``log_history`` rows with ``step``; NaN/inf as HF writes them."""
    history = [{**{k: trainer_float(v) for k, v in values.items()}, "step": step} for step, values in rows]
    if summary:
        history.append({k: trainer_float(v) for k, v in summary.items()})
    state = {**header, "log_history": history}
    return json.dumps(state, indent=2, sort_keys=True) + "\n"  # json writes NaN / Infinity literals


def trl_console(rows, *, total: int, preamble: str = "") -> str:
    """TRL/transformers-5 stdout: dicts of ``.4g`` strings between tqdm refreshes, no step field."""
    out = [preamble] if preamble else []
    for step, values in rows:
        bar = f"{int(100 * step / total):3d}%|          | {step}/{total} [00:{step % 60:02d}<00:00,  3.30s/it]"
        out.append(f"\r{bar}")
        printed = ", ".join(f"'{k}': '{v:.4g}'" for k, v in values.items())
        out.append("{" + printed + "}")
    return "\n".join(out) + "\n"


def bedrock_csv(rows, columns: list[str]) -> str:
    lines = [",".join(columns)]
    for step, values in rows:
        lines.append(",".join(str(step) if c == "step_number" else f"{values[c]:.6g}" for c in columns))
    return "\n".join(lines) + "\n"
