"""Finding runs in paths: a file is a run; a directory is searched for runs.

- ``events.out.tfevents.*`` files in one directory are one run (files merged in name order; a step
  written twice keeps the newer file's value);
- HF output folders keep one ``trainer_state.json`` per ``checkpoint-N/``: the newest is the run;
- a Bedrock / Forge job folder's ``step_wise_training_metrics.csv`` and ``validation_metrics.csv``
  are one run;
- any other ``.log``, ``.txt``, ``.out``, ``.jsonl``, ``.csv`` file whose content is a known format
  (or that metric definitions match) is a run of its own.

``run_id`` is the path relative to the directory searched (the file name for a file given alone).
A recipe YAML next to the log fills in technique, training mode and hyperparameters.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..recipes import find_adjacent_recipe, summarize_recipe
from ..schema import RunInfo
from . import nova
from .detect import LFS_MESSAGE, LFS_POINTER, SNIFF_BYTES, FormatError, is_lfs_pointer, is_tensorboard_name, sniff_file
from .metric_definitions import MetricDefinitions
from .reader import LiveRun

LOG_SUFFIXES = {".log", ".txt", ".out", ".jsonl", ".csv", ".json"}
SKIP_DIRS = {"__pycache__", "node_modules", ".git", ".venv", "venv", "site-packages"}
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_RL_METRICS = {"reward", "kl", "val_reward", "frac_reward_zero_std", "reward_std", "truncated_ratio"}


@dataclass
class RunSpec:
    run_id: str
    streams: list[list[Path]]
    primary: Path


@dataclass
class FileProblem:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Run:
    info: RunInfo
    frame: pd.DataFrame
    live: LiveRun = field(repr=False)


@dataclass
class LoadResult:
    runs: list[Run] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)  # files skipped inside directories
    errors: list[FileProblem] = field(default_factory=list)  # paths named by the user that failed


def _head(path: Path, limit: int = SNIFF_BYTES) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(limit)


def _walk(root: Path, problems: list[FileProblem], exclude=frozenset(), follow_links: bool = True) -> list[Path]:
    """The candidate files under ``root``, sorted. What cannot be a log is said, not skipped quietly:
    a folder that cannot be listed, a FIFO / socket / device, a symlink that leads nowhere. Symlinked
    folders are followed once each (a link that loops back is not walked again)."""
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def where(path: Path) -> str:
        return path.relative_to(root).as_posix()

    def cannot_list(err: OSError) -> None:
        problems.append(FileProblem(where(Path(err.filename)) + "/", f"cannot list this folder: {err.strerror}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=cannot_list, followlinks=follow_links):
        here = Path(dirpath)
        try:
            st = here.stat()
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop, or two links to one folder
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            path = here / name
            if str(path) in exclude:
                continue  # the caller refuses it (a symlink leaving the allowed folders): not even sniffed
            if path.is_file():
                files.append(path)
            elif path.is_symlink() and not path.exists():
                problems.append(FileProblem(where(path), "a symlink that leads nowhere (its target is missing, or it loops)"))
            elif not path.is_dir():
                problems.append(FileProblem(where(path), "not a regular file (a FIFO, socket or device): not read"))
    return sorted(files)


def _rejection(path: Path, has_definitions: bool) -> str | None:
    """Why ``path`` is not a log, or None. A watcher or a dashboard searches the same folder again and
    again: a file that was not a log is not read again (up to 73 MiB of sniffing) until it changes."""
    try:
        st = path.stat()
    except OSError as err:
        return err.strerror or str(err)
    return _sniffed(str(path), st.st_size, st.st_mtime_ns, has_definitions)


@functools.lru_cache(maxsize=4096)
def _sniffed(path: str, size: int, mtime_ns: int, has_definitions: bool) -> str | None:
    try:
        sniff_file(Path(path), has_definitions=has_definitions, read=lambda limit: _head(Path(path), limit))
    except FormatError as err:
        return str(err)
    except OSError as err:
        return err.strerror or str(err)
    return None


def find_runs(root: Path, *, definitions: MetricDefinitions | None = None, exclude=frozenset(),
              follow_links: bool = True) -> tuple[list[RunSpec], list[FileProblem]]:
    """Search a directory for runs. Unusable candidate files are reported, not fatal; the paths in
    ``exclude`` (strings) are passed over unread; ``follow_links=False`` keeps out of symlinked folders."""
    specs: list[RunSpec] = []
    problems: list[FileProblem] = []
    files = _walk(root, problems, exclude, follow_links)
    def rel(path: Path) -> str:
        # Relative to the folder searched; a run lying directly in it keeps the folder's name.
        relative = path.relative_to(root)
        if len(relative.parts) > 1 or path.is_dir():
            return relative.as_posix()
        return f"{root.resolve().name}/{relative.as_posix()}"

    tb_dirs: dict[Path, list[Path]] = {}
    states: dict[Path, list[tuple[int, Path]]] = {}
    bedrock_train: list[Path] = []
    bedrock_val: list[Path] = []
    others: list[Path] = []
    for path in files:
        if is_tensorboard_name(path):
            try:
                pointer = is_lfs_pointer(_head(path, len(LFS_POINTER)))
            except OSError as err:
                problems.append(FileProblem(path.relative_to(root).as_posix(), err.strerror or str(err)))
                continue
            if pointer:
                problems.append(FileProblem(path.relative_to(root).as_posix(), LFS_MESSAGE))
                continue
            tb_dirs.setdefault(path.parent, []).append(path)
        elif path.name == "trainer_state.json":
            match = _CHECKPOINT.match(path.parent.name)
            run_dir = path.parent.parent if match else path.parent
            order = int(match.group(1)) if match else 1 << 62  # the output folder's own copy is newest
            states.setdefault(run_dir, []).append((order, path))
        elif path.name == "step_wise_training_metrics.csv":
            bedrock_train.append(path)
        elif path.name == "validation_metrics.csv":
            bedrock_val.append(path)
        elif path.suffix.lower() in LOG_SUFFIXES and path.suffix.lower() != ".json":
            others.append(path)

    for directory, event_files in tb_dirs.items():
                # One stream per event file: files of one folder may hold different tags (a step that looks
        # like a regression across files is not a restart); a step logged twice keeps the newer file.
        ordered = sorted(event_files)
        specs.append(RunSpec(rel(directory) if directory != root else root.resolve().name, [[f] for f in ordered], ordered[0]))
    for found in states.values():
        newest = max(found)[1]
        specs.append(RunSpec(rel(newest), [[newest]], newest))
    paired: set[Path] = set()
    for train in bedrock_train:
        job = train.parent.parent if train.parent.name == "training_artifacts" else train.parent
        validation = [v for v in bedrock_val if job in v.parents]
        paired.update(validation)
        specs.append(RunSpec(rel(job) if job != root else root.resolve().name, [[train]] + [[v] for v in validation], train))
    for alone in (v for v in bedrock_val if v not in paired):
        specs.append(RunSpec(rel(alone), [[alone]], alone))
    for path in others:
        reason = _rejection(path, definitions is not None)
        if reason is not None:
            problems.append(FileProblem(path.relative_to(root).as_posix(), reason))
            continue
        specs.append(RunSpec(rel(path), [[path]], path))
    specs.sort(key=lambda s: s.run_id)
    return specs, problems


def infer_details(info: RunInfo, frame: pd.DataFrame, primary: Path, formats: list[str]) -> None:
    """Technique and platform from the recipe when there is one, else from the log itself."""
    metrics = set(frame["metric"].unique()) if len(frame) else set()
    if info.technique == "unknown":
        if "rewards/margins" in metrics or "rewards/chosen" in metrics:
            info.technique = "dpo"
        elif metrics & {"critic/vf_loss", "loss/value_avg", "val/ratio"}:
            info.technique = "ppo"
        elif metrics & _RL_METRICS:
            info.technique = "rft"
        else:
            hint = primary.as_posix().lower()
            if re.search(r"cpt|pretrain|pre-train|continued", hint) or "token_count" in metrics:
                info.technique = "cpt"
            elif re.search(r"sft|fine-?tun|lora", hint):
                info.technique = "sft"
    if info.platform == "local":
        if "verl" in formats and info.technique in ("rft", "ppo") and "critic/rewards/mean" in metrics:
            info.platform = "smtj" if "val-score/rewards/mean@1" in metrics or "training/global_step" in metrics else "local"
        if any(f in nova.FORMATS for f in formats):
            try:
                with open(primary, "r", encoding="utf-8", errors="replace") as handle:
                    if nova.looks_like_hyperpod(handle.read(65536)):
                        info.platform = "hyperpod"
            except OSError:
                pass


def _read_eval_results(path: Path, info: RunInfo) -> None:
    """``eval_results.json`` next to a log: base and tuned scores of the target metric (sweeps)."""
    if not path.is_file():
        return
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        info.warnings.append(f"{path.name} could not be read: {err}")
        return
    except RecursionError:
        info.warnings.append(f"{path.name} could not be read: nested too deeply")
        return
    if not isinstance(results, dict):
        info.warnings.append(f"{path.name} is not a JSON object")
        return
    for key in ("dataset", "target_metric", "base_score", "tuned_score"):
        if key in results:
            info.final_metrics[key] = results[key]
    if isinstance(results.get("lora_rank"), (int, float)):
        info.hyperparameters["lora_rank"] = results["lora_rank"]


def open_run(spec: RunSpec, *, definitions: MetricDefinitions | None = None) -> Run:
    """Read a run for the first time (later reads: ``run.live.refresh()``). Raises FormatError."""
    info = RunInfo(run_id=spec.run_id, source=str(spec.primary), format="")
    recipe_dir = spec.primary.parent
    recipe_path, recipe, warnings = find_adjacent_recipe(recipe_dir, spec.primary.stem)
    info.warnings.extend(warnings)
    if recipe is not None:
        summary = summarize_recipe(recipe)
        info.recipe_path = str(recipe_path)
        info.technique = summary["technique"]
        info.training_mode = summary["training_mode"]
        info.platform = summary["platform"] or info.platform
        info.hyperparameters.update(summary["hyperparameters"])
    _read_eval_results(recipe_dir / "eval_results.json", info)
    live = LiveRun(info, spec.streams, definitions=definitions)
    live.refresh()
    formats = sorted(set(live.formats.values()))
    info.format = "+".join(formats)
    frame = live.frame
    infer_details(info, frame, spec.primary, formats)
    return Run(info, frame, live)


def load_paths(paths, *, definitions: MetricDefinitions | None = None) -> LoadResult:
    """Load runs from files and directories as a user named them on the command line."""
    result = LoadResult()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            reason = ("a symlink that leads nowhere (its target is missing, or it loops)" if path.is_symlink()
                      else "no such file or directory")
            result.errors.append(FileProblem(str(raw), reason))
            continue
        if path.is_dir():
            specs, problems = find_runs(path, definitions=definitions)
            result.problems.extend(FileProblem(f"{raw.rstrip('/')}/{p.path}", p.reason) for p in problems)
            if not specs:
                # Say why, not only that: the one skipped file of an upload is the usual case.
                why = f" ({len(problems)} file(s) skipped; {problems[0].path}: {problems[0].reason})" if problems else ""
                result.errors.append(FileProblem(str(raw), f"no training runs found in this directory{why}"))
            for spec in specs:
                try:
                    result.runs.append(open_run(spec, definitions=definitions))
                except Exception as err:  # noqa: BLE001 - one file's failure is that file's problem
                    result.problems.append(FileProblem(f"{raw.rstrip('/')}/{spec.primary.relative_to(path).as_posix()}",
                                                       failure_reason(err)))
        else:
            spec = RunSpec(path.as_posix(), [[path]], path)
            try:
                result.runs.append(open_run(spec, definitions=definitions))
            except Exception as err:  # noqa: BLE001
                result.errors.append(FileProblem(str(raw), failure_reason(err)))
    return result


def failure_reason(err: Exception) -> str:
    """One line for a file that could not be read. A FormatError says it itself; anything else is a
    value some parser could not take (a bug to report, but never a reason to lose the other runs)."""
    if isinstance(err, FormatError):
        return str(err)
    if isinstance(err, RecursionError):
        return "too deeply nested to read"
    if isinstance(err, MemoryError):
        return "too large to read in the memory available"
    text = " ".join(str(err).split())
    return f"could not be read ({type(err).__name__}: {text[:200]})"
