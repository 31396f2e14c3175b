"""The local folders the dashboard reads: which folders it may read, their runs read, checked and kept
per folder (``FolderCache``, shared by every session and by the read at the server's start), and the
thresholds runs are checked with.

No Streamlit here: the read at the server's start (``startup``) runs on a thread before any session,
while the server itself starts.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..alerts import Severity
from ..detectors import run_checks
from ..ingest import FileProblem, find_runs, open_run
from ..ingest.discover import SKIP_DIRS, failure_reason

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOGS = PROJECT_ROOT / "sample_logs"


@dataclass
class Loaded:
    runs: list  # ingest.Run
    reports: dict  # run_id -> Report
    errors: list  # FileProblem
    problems: list  # FileProblem
    overview: list | None = field(default=None, repr=False, compare=False)  # fleet rows, computed once
    recorded: bool = False  # recordings (the bundled samples): never "running", whatever their file times

    def default_run(self) -> str | None:
        """The run to open when the URL names none: the most severe alerts, then the most alerts, then by name.

        A newcomer lands where the tool shows what it does, not on a quiet run. The reports are computed
        when the source loads (the run picker's labels need them), so this costs one pass over them.
        """
        def rank(run_id: str) -> tuple:
            alerts = self.reports[run_id].alerts
            worst = max((Severity(a.severity).rank for a in alerts), default=-1)
            return -worst, -len(alerts), run_id

        return min((run.info.run_id for run in self.runs), key=rank, default=None)


def sample_folder() -> Path:
    """The bundled sample logs, unless FORGE_MONITOR_LOGS names another folder (``make demo``)."""
    return Path(os.environ.get("FORGE_MONITOR_LOGS", SAMPLE_LOGS))


def live_demo_folder(folder: Path) -> bool:
    """The temporary folder ``forge-monitor demo --live`` replays a sample into (named
    forge-monitor-live-*, in the temp directory): the sidebar says what it is, not its random name."""
    folder = Path(folder)
    return folder.name.startswith("forge-monitor-live-") and folder.resolve().parent == Path(tempfile.gettempdir()).resolve()


def opened_folders() -> list[Path]:
    """The folders named on the command line (``forge-monitor dashboard PATH...``), in order."""
    return [Path(p).expanduser().resolve() for p in os.environ.get("FORGE_MONITOR_OPEN", "").split(os.pathsep) if p]


def allowed_roots() -> list[Path]:
    """Folders a user may open: those named on ``forge-monitor dashboard PATH...``, FORGE_MONITOR_ROOTS
    (os.pathsep-separated) and FORGE_MONITOR_LOGS."""
    roots = opened_folders()
    roots += [Path(p).expanduser().resolve() for p in os.environ.get("FORGE_MONITOR_ROOTS", "").split(os.pathsep) if p]
    if os.environ.get("FORGE_MONITOR_LOGS"):
        roots.append(Path(os.environ["FORGE_MONITOR_LOGS"]).expanduser().resolve())
    return roots


def check_folder(raw: str) -> tuple[Path | None, str | None]:
    """(folder, None) when ``raw`` lies under an allowed root, else (None, the reason)."""
    if not raw.strip():
        return None, "enter a folder path"
    roots = allowed_roots()
    if not roots:
        return None, ("no folders are allowed: start the dashboard with the folders it may read, "
                      "`forge-monitor dashboard /data/runs [MORE...]` (or set FORGE_MONITOR_ROOTS=/data/runs)")
    folder = Path(raw).expanduser().resolve()
    # The refusal names the path as it was typed, never where it resolves to (``~`` or a symlink would
    # otherwise tell any visitor the server's home folder or a link's target); the allowed folders are
    # named, since they are what the visitor may choose from.
    if not any(folder == root or root in folder.parents for root in roots):
        return None, f"{raw.strip()!r} is outside the allowed folders ({', '.join(str(r) for r in roots)})"
    if not folder.is_dir():
        return None, f"{raw.strip()!r} is not a folder"
    return folder, None


# A file's (size, mtime_ns, resolved path if it is a symlink else None): what a run's data depends on.
Stat = tuple[int, int, str | None]
_SIDE_FILES = (".yaml", ".yml")  # read beside every log (recipes), with eval_results.json


def _is_side_file(name: str) -> bool:
    return name.lower().endswith(_SIDE_FILES) or name == "eval_results.json"


def scan_folder(folder: Path) -> dict[str, Stat]:
    """Every file under ``folder`` (absolute path -> Stat), one stat call each.

    Directories the run search skips are skipped here too; symlinked directories are not entered
    (the run search does not enter them either).
    """
    listing: dict[str, Stat] = {}
    for directory, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        for name in files:
            path = os.path.join(directory, name)
            try:
                stat = os.stat(path)
            except OSError:  # a dangling link or a file deleted meanwhile: the run search reports it
                listing[path] = (-1, -1, None)
                continue
            listing[path] = (stat.st_size, stat.st_mtime_ns, os.path.realpath(path) if os.path.islink(path) else None)
    return listing


def listing_key(listing: dict[str, Stat]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(listing):
        digest.update(f"{path}\0{listing[path]}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _inside(resolved: str, roots: list[Path]) -> bool:
    path = Path(resolved)
    return any(path == root or root in path.parents for root in roots)


class FolderCache:
    """The runs of one folder, kept between reruns and shared by every session that opens it.

    ``load()`` lists the folder (one stat per file); when nothing changed it returns the previous
    answer, else it reopens only the runs whose files (the logs, and the recipes and
    ``eval_results.json`` beside them) changed. The ``Loaded`` it returns is never changed
    afterwards: a session that follows a run live works on its own copy (``live.detached``).
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.lock = threading.Lock()
        self.key: str | None = None
        self.loaded: Loaded | None = None
        self.runs: dict[str, tuple] = {}  # run_id -> (signature, Run, Report)

    def load(self, roots: list[Path]) -> Loaded:
        listing = scan_folder(self.folder)
        # The thresholds file too: editing it re-checks every run (an unchanged run is reused only
        # when it was checked with the same thresholds, see the signature in _reload).
        key = listing_key(listing) + repr(roots) + _config_stamp()
        with self.lock:  # two sessions reloading one folder: the second waits and gets the first's answer
            if key != self.key or self.loaded is None:
                self.loaded = self._reload(listing, roots)
                self.key = key
            return self.loaded

    def _reload(self, listing: dict[str, Stat], roots: list[Path]) -> Loaded:
        folder = self.folder
        escaping = {path for path, (_, _, target) in listing.items() if target and not _inside(target, roots)}
        beside: dict[str, list[str]] = {}  # directory -> the recipe / eval_results files read with its logs
        for path in listing:
            name = os.path.basename(path)
            if _is_side_file(name):
                beside.setdefault(os.path.dirname(path), []).append(path)
        # A file leading outside is not even sniffed; symlinked folders are not entered (the listing
        # above, the cache's key, does not enter them either, and their files are not checked).
        specs, found = find_runs(folder, exclude=escaping, follow_links=False)
        problems = [FileProblem(f"{folder}/{p.path}", p.reason) for p in found]
        problems += [FileProblem(f"{folder}/{os.path.relpath(p, folder)}", LEAVES_ROOTS) for p in sorted(escaping)
                     if not _is_side_file(os.path.basename(p))]
        runs, reports, kept = [], {}, {}
        entries: dict[str, tuple | None] = {}  # run id -> (signature, Run, Report); None: open it now
        signatures = {}
        for spec in specs:
            files = [str(p) for stream in spec.streams for p in stream]
            side = beside.get(str(spec.primary.parent), [])
            outside = [p for p in files + side if p in escaping]
            if outside:
                names = ", ".join(os.path.relpath(p, folder) for p in outside)
                problems.append(FileProblem(f"{folder}/{os.path.relpath(files[0], folder)}",
                                            f"not read: {names} {LEAVES_ROOTS}"))
                continue
            # The logs' stats, then the recipe / eval_results beside them: a change of the latter only
            # re-reads the run in full (the recipe's advice and hyperparameters come with it).
            signature = signatures[spec.run_id] = (tuple((p, listing.get(p)) for p in files),
                                                   tuple((p, listing.get(p)) for p in side) + (_config_stamp(),))
            previous = self.runs.get(spec.run_id)
            if previous is not None and previous[0] == signature:
                entries[spec.run_id] = previous
            elif previous is not None and _only_appended(previous[0], signature):
                entries[spec.run_id] = _appended(previous, signature)  # None when it cannot be read on
            else:
                entries[spec.run_id] = None
        opened = _open_all([spec for spec in specs if spec.run_id in entries and entries[spec.run_id] is None])
        for spec in specs:
            if spec.run_id not in entries:
                continue
            entry = entries[spec.run_id]
            if entry is None:
                result = opened[spec.run_id]
                if isinstance(result, Exception):
                    problems.append(FileProblem(f"{folder}/{spec.primary.relative_to(folder).as_posix()}",
                                                failure_reason(result)))
                    continue
                entry = (signatures[spec.run_id], *result)
            kept[spec.run_id] = entry
            runs.append(entry[1])
            reports[spec.run_id] = entry[2]
        self.runs = kept
        why = f" ({len(problems)} file(s) skipped; {problems[0].path}: {problems[0].reason})" if problems else ""
        errors = [] if runs else [FileProblem(str(folder), f"no training runs found in this directory{why}")]
        # The bundled samples are recordings: never "running", whatever their files' times after a checkout.
        return Loaded(runs, reports, errors, problems, recorded=folder.resolve() == SAMPLE_LOGS.resolve())


LEAVES_ROOTS = "is a symlink that leaves the allowed folders"
OPEN_WORKERS = max(1, min(4, os.cpu_count() or 1))  # parsing is polars (it lets go of the GIL): threads overlap


def detector_config(*, strict: bool = False) -> dict | None:
    """The thresholds file named by ``dashboard --config`` (FORGE_MONITOR_CONFIG), the same one
    ``scan --config`` reads, so the CLI and the dashboard show the same alerts; None: the defaults.

    A file edited into something unreadable while the dashboard runs must not stop the runs from
    loading: they are checked with the defaults, and the Detector reference page (``strict``) says
    why the file could not be read."""
    path = os.environ.get("FORGE_MONITOR_CONFIG")
    if not path:
        return None
    try:
        return _config_from(path, os.stat(path).st_mtime_ns if os.path.exists(path) else 0)
    except (OSError, ValueError):
        if strict:
            raise
        return None


def _config_stamp() -> str:
    """Which thresholds file, as of when: part of what a folder's cached reports depend on."""
    path = os.environ.get("FORGE_MONITOR_CONFIG")
    if not path:
        return ""
    return f"{path}@{os.stat(path).st_mtime_ns if os.path.exists(path) else 0}"


@functools.lru_cache(maxsize=4)
def _config_from(path: str, mtime_ns: int) -> dict:
    from ..detectors import load_config

    return load_config(path)


def _open_one(spec, config=None):
    try:
        run = open_run(spec)
        return run, run_checks(run.frame, run.info, config)
    except Exception as err:  # noqa: BLE001 - one file's failure is that file's problem
        return err


def _open_all(specs) -> dict:
    """run id -> (Run, Report) or the exception that stopped it, opened on a few threads (a folder of
    200 runs is read about 1.6x faster on 2 cores than one by one)."""
    config = detector_config()
    if len(specs) <= 1:
        return {spec.run_id: _open_one(spec, config) for spec in specs}
    with ThreadPoolExecutor(max_workers=OPEN_WORKERS) as pool:
        return dict(zip((spec.run_id for spec in specs), pool.map(lambda spec: _open_one(spec, config), specs)))


def _only_appended(old, new) -> bool:
    """The same log files, the same recipe and side files; only the logs' size or time changed."""
    return old[1] == new[1] and [p for p, _ in old[0]] == [p for p, _ in new[0]]


def _appended(previous: tuple, signature) -> tuple | None:
    """A changed run read on from where its last read stopped (the incremental reader: only what was
    appended; a file truncated or rewritten is noticed and read again), on a copy, so the answer that
    sessions already hold never changes. None when that fails (the caller opens the run afresh)."""
    from ..live import detached

    try:
        run = detached(previous[1])
        run.live.refresh()
        run.frame = run.live.frame
        return signature, run, run_checks(run.frame, run.info, detector_config())
    except Exception:  # noqa: BLE001 - opened afresh instead, which reports the problem properly
        return None


MAX_FOLDERS = 16  # folders whose runs the server keeps; the least recently opened goes first
_folders: dict[str, FolderCache] = {}  # folder -> its runs, the most recently opened last
_folders_lock = threading.Lock()


def folder_cache(folder: str) -> FolderCache:
    """The one ``FolderCache`` of ``folder`` in this server process, shared by every session and by
    the read at the server's start."""
    with _folders_lock:
        cache = _folders.pop(folder, None) or FolderCache(Path(folder))
        _folders[folder] = cache
        while len(_folders) > MAX_FOLDERS:
            del _folders[next(iter(_folders))]
        return cache


def read_folder(folder: Path) -> Loaded:
    """The runs in ``folder``, read again when a file in it changed. Files that resolve outside the
    allowed roots (and the folder itself) are not read."""
    folder = Path(folder)
    return folder_cache(str(folder)).load(allowed_roots() + [folder.resolve()])
