"""``forge-monitor demo``: the dashboard on the sample logs, or (``--live``) a sample run replayed into
a temporary log a few steps per second while the dashboard follows it, so alerts appear as they happen.

The replay writes a copy in a temporary folder: the bundled files are never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
APP = PROJECT_ROOT / "app.py"
SAMPLE_LOGS = PROJECT_ROOT / "sample_logs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dashboard(port: int, env: dict | None = None, *, quiet: bool = False, app: Path = APP,
                    stderr=None) -> subprocess.Popen:
    """Streamlit on 127.0.0.1 in its own process group (stopped by PID, never by name); ``app``: another
    script served the same way (the page bench's bare page); ``stderr``: where the server's log goes
    (None: this process's stderr).

    The dashboard reads the folder it opens on as it starts (``ui.startup``) and says so on stderr.

    No file watcher: it exists to rerun the app when its source is edited, and watching a project
    folder that holds virtualenvs overflows inotify and costs the CPU the first load of a large
    folder needs (a 200-run overview: 14 s with it, see bench/overview_bench.py)."""
    # The app through forge_monitor.ui.serve: `streamlit run`, its landing folder read as it starts.
    launcher = ["forge_monitor.ui.serve"] if app == APP else ["streamlit", "run"]
    command = [sys.executable, "-m", *launcher, str(app), "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"]
    # quiet: Streamlit's own "URL: http://127.0.0.1:PORT" (stdout) is not printed beside ours, which
    # carries the page to open; its errors (stderr) still are.
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, start_new_session=True,
                            stdout=subprocess.DEVNULL if quiet else None, stderr=stderr)


def wait_until_up(port: int, process: subprocess.Popen, timeout: float = 90.0) -> bool:
    """True once the server answers its health check (bounded wait), False if it exited or never did."""
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return True
        except OSError:
            time.sleep(0.3)
    return False


OPEN_ENV = "FORGE_MONITOR_OPEN"  # the folders named on the command line: allowed, and the first one opens
CONFIG_ENV = "FORGE_MONITOR_CONFIG"  # the detector thresholds file, the same one scan --config reads


def dashboard_env(folders: list[Path], config: str | None = None) -> dict:
    env = {OPEN_ENV: os.pathsep.join(str(f) for f in folders)}
    if config:
        env[CONFIG_ENV] = config
    return env


def run_dashboard(folders: list[Path], *, port: int | None, config: str | None = None) -> int:
    """``forge-monitor dashboard PATH...``: the dashboard on the user's folders, one URL printed once it answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"source": "folder", "folder": str(folders[0])})
    others = f" (also allowed: {', '.join(str(f) for f in folders[1:])})" if len(folders) > 1 else ""
    return _serve(port, dashboard_env(folders, config),
                  f"forge-monitor dashboard on {folders[0]}{others}\nOpen {url}\n(Ctrl-C to stop)")


def _serve(port: int, env: dict | None, ready: str) -> int:
    """The dashboard until Ctrl-C or SIGTERM, ``ready`` printed once it answers; 2 when it never does."""
    signal.signal(signal.SIGTERM, _interrupt)
    process = start_dashboard(port, env, quiet=True)
    try:
        if not wait_until_up(port, process):
            print("forge-monitor: the dashboard did not start (see the messages above)", file=sys.stderr)
            return 2
        print(ready, flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def prepare_replay(sample: str, folder: Path) -> tuple[Path, list[str]]:
    """Copy the sample's recipe into ``folder``; return the log path to grow and the lines to write."""
    source = SAMPLE_LOGS / sample
    logs = sorted(source.glob("*.log"))
    if not logs:
        raise ValueError(f"{sample}: no .log file to replay (choose a Nova/verl/TRL text-log sample)")
    target_dir = folder / sample
    target_dir.mkdir(parents=True)
    for extra in source.iterdir():
        if extra.suffix in (".yaml", ".yml", ".json"):
            shutil.copy(extra, target_dir / extra.name)
    lines = logs[0].read_text(encoding="utf-8").splitlines(keepends=True)
    return target_dir / logs[0].name, lines


def replay(path: Path, lines: list[str], steps_per_second: float, *, stop_after: float | None = None) -> None:
    """Append ``lines`` to ``path`` at about ``steps_per_second`` lines a second."""
    started = time.time()
    with open(path, "a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line)
            handle.flush()
            time.sleep(1.0 / steps_per_second)
            if stop_after is not None and time.time() - started > stop_after:
                return


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C: the dashboard stops, the temp folder goes


def _start_replay(sample: str, prefix: str):
    """A temporary folder holding the sample's log with its first 5 lines written: ``(folder, log,
    lines)``, or None (said on stderr) when the sample is unknown."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        path, lines = prepare_replay(sample, folder)
    except ValueError as err:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"forge-monitor: {err}", file=sys.stderr)
        return None
    path.write_text("".join(lines[:5]), encoding="utf-8")
    return folder, path, lines


def run_demo(*, live: bool, sample: str, steps_per_second: float, port: int | None) -> int:
    port = port or free_port()
    if not live:
        return _serve(port, None, f"forge-monitor dashboard on http://127.0.0.1:{port} (Ctrl-C to stop)")
    signal.signal(signal.SIGTERM, _interrupt)
    started = _start_replay(sample, "forge-monitor-live-")
    if started is None:
        return 2
    folder, path, lines = started
    process = start_dashboard(port, {"FORGE_MONITOR_LOGS": str(folder)}, quiet=True)
    run_id = path.relative_to(folder).as_posix()
    url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"run": run_id, "live": "1"})
    try:
        if not wait_until_up(port, process):  # the replay starts once the page can be opened
            print("forge-monitor: the dashboard did not start (see the messages above)", file=sys.stderr)
            return 2
        print(f"Replaying {sample} into {path} at {steps_per_second:g} steps/s.\nOpen {url}\n(Ctrl-C to stop)", flush=True)
        replay(path, lines[5:], steps_per_second)
        print("Replay finished; the dashboard keeps serving (Ctrl-C to stop).")
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def run_watch_demo(*, sample: str, steps_per_second: float, interval: float = 1.0) -> int:
    """A sample run replayed into a temporary log while ``forge-monitor watch --dry-run`` follows it:
    each new alert is printed as the message a route would get, once. When the replay ends, one more
    ``--once`` pass with the same state picks up the last lines (and shows that nothing is sent twice)."""
    signal.signal(signal.SIGTERM, _interrupt)
    started = _start_replay(sample, "forge-monitor-watch-")
    if started is None:
        return 2
    folder, path, lines = started
    state = folder.with_name(folder.name + "-state")  # beside the watched folder, not a file in it
    command = [sys.executable, "-m", "forge_monitor", "watch", str(path.parent.parent), "--dry-run",
               "--state", str(state), "--dashboard-url", "http://127.0.0.1:8501/"]
    print(f"Replaying {sample} into {path} at {steps_per_second:g} steps/s; watch --dry-run prints each message.",
          flush=True)
    process = subprocess.Popen([*command, "--interval", str(interval)], start_new_session=True)
    try:
        replay(path, lines[5:], steps_per_second)
        stop(process)  # SIGTERM: the watcher writes its state and exits
        subprocess.run([*command, "--once"], check=False, timeout=120)
    except KeyboardInterrupt:
        pass
    finally:
        stop(process)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    return 0
