"""Dashboard state: what is cached, what a session owns, and what the folder check lets through.

A changed file is read again (H1); a session's live mode never changes what another session sees,
and a chart never disagrees with its verdict (H2); a symlink never leads outside the allowed folders
(M1); an upload is written once and its folder removed when replaced or dropped (M8).
"""

from __future__ import annotations

import gc
import math
import os

import pytest

from conftest import open_app



def jsonl(steps, nan_at=None) -> str:
    return "".join(f'{{"step": {i}, "loss": {"NaN" if i == nan_at else 1.0 / i}}}\n' for i in steps)


def selected(at):
    assert not at.exception, at.exception
    return at.session_state["selected"]


def agrees(run, report) -> bool:
    """The chart's data and the verdict tell the same story about non-finite losses."""
    loss = run.frame[run.frame["metric"] == "train_loss"]["value"]
    has_nan = bool((~loss.map(math.isfinite)).any())
    return has_nan == any(a.detector == "nonfinite" for a in report.alerts)


@pytest.fixture
def root(tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    (allowed / "runs").mkdir(parents=True)
    monkeypatch.setenv("FORGE_MONITOR_ROOTS", str(allowed))
    return allowed


# --- H1: a changed folder is read again ---------------------------------------------------------

def test_a_rewritten_log_is_read_again_by_a_new_session_and_on_a_rerun(root):
    log = root / "runs" / "train.jsonl"
    log.write_text(jsonl(range(1, 11)))
    at = open_app(source="folder", folder=str(root / "runs"))
    assert selected(at)[0].frame["step"].max() == 10
    log.write_text(jsonl(range(1, 501), nan_at=250))
    run, report = selected(open_app(source="folder", folder=str(root / "runs")))  # a new session
    assert run.frame["step"].max() == 500 and agrees(run, report)
    assert any(a.detector == "nonfinite" for a in report.alerts)
    (root / "runs" / "second.jsonl").write_text(jsonl(range(1, 5)))
    assert len(open_app(source="folder", folder=str(root / "runs")).session_state["loaded"].runs) == 2
    # (A rerun of the same session goes through the same load_cached: see the next test. AppTest's
    # reruns here execute the page only, not app.py's sidebar, so they cannot show it.)


def test_reload_reopens_only_the_runs_whose_files_changed(root):
    from forge_monitor.ui.data import load_cached

    for name in ("a", "b", "c"):
        (root / "runs" / name).mkdir()
        (root / "runs" / name / "train.jsonl").write_text(jsonl(range(1, 21)))
    folder = (root / "runs").resolve()
    first = load_cached(folder)
    assert load_cached(folder) is first  # nothing changed: the same answer, nothing read
    with open(root / "runs" / "b" / "train.jsonl", "a") as handle:
        handle.write(jsonl(range(21, 31)))
    second = load_cached(folder)
    old, new = ({r.info.run_id: r for r in loaded.runs} for loaded in (first, second))
    assert new["a/train.jsonl"] is old["a/train.jsonl"] and new["c/train.jsonl"] is old["c/train.jsonl"]
    assert new["b/train.jsonl"].frame["step"].max() == 30 and old["b/train.jsonl"].frame["step"].max() == 20
    (root / "runs" / "b" / "recipe.yaml").write_text("run:\n  name: b\ntraining_config:\n  max_steps: 30\n")
    third = {r.info.run_id: r for r in load_cached(folder).runs}
    assert third["b/train.jsonl"].info.recipe_path  # a recipe put beside a log counts as a change of that run
    assert third["a/train.jsonl"] is old["a/train.jsonl"]


# --- H2: a session's live mode stays in that session ---------------------------------------------

def test_live_mode_in_one_session_does_not_change_what_another_session_sees(root):
    log = root / "runs" / "train.jsonl"
    log.write_text(jsonl(range(1, 51)))
    query = {"source": "folder", "folder": str(root / "runs")}
    live = open_app(**query)
    cached_run, cached_report = selected(live)
    lines_read = cached_run.info.lines_read
    live.toggle(key="live").set_value(True).run()
    with open(log, "a") as handle:
        handle.write(jsonl(range(51, 61), nan_at=60))
    os.utime(log, ns=(os.stat(log).st_atime_ns, os.stat(log).st_mtime_ns))  # same stamp, as within one tick
    live.toggle(key="log_y").set_value(True).run()  # the live refresh reads steps 51-60 with the NaN
    assert any("live · last step 60" in c.value for c in live.caption)
    # The object every session shares is untouched: its frame, its counts and its report still agree.
    assert cached_run.frame["step"].max() == 50 and cached_run.info.lines_read == lines_read
    assert not cached_run.info.live and agrees(cached_run, cached_report)
    other_run, other_report = selected(open_app(**query))  # a new session, not live
    assert agrees(other_run, other_report)
    assert not other_run.info.live


def test_two_live_copies_of_one_cached_run_do_not_share_counts(root):
    from forge_monitor.live import LiveMonitor, detached
    from forge_monitor.ui.data import load_cached

    log = root / "runs" / "train.jsonl"
    log.write_text(jsonl(range(1, 11)))
    run = load_cached((root / "runs").resolve()).runs[0]
    first, second = LiveMonitor(detached(run)), LiveMonitor(detached(run))
    with open(log, "a") as handle:
        handle.write(jsonl(range(11, 21), nan_at=20))
    first.update()
    second.update()
    assert first.run.info.lines_read == second.run.info.lines_read == 20  # not doubled
    assert run.info.lines_read == 10 and run.frame["step"].max() == 10 and not run.info.live
    for monitor in (first, second):
        assert agrees(monitor.run, monitor.report) and monitor.run.frame["step"].max() == 20


# --- M1: symlinks stay inside the allowed folders -----------------------------------------------

def test_a_symlinked_file_leading_outside_the_roots_is_refused_with_the_reason(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"step": 1, "SECRET_TOKEN_abc123": 43.0, "loss": 1.0}\n')
    (outside / "passwords.csv").write_text("step,db_password_hunter2\n1,2\n")
    (root / "runs" / "ok.jsonl").write_text(jsonl(range(1, 5)))
    (root / "runs" / "train.jsonl").symlink_to(outside / "secret.jsonl")
    (root / "runs" / "metrics.csv").symlink_to(outside / "passwords.csv")
    (root / "inside.jsonl").write_text(jsonl(range(1, 3)))
    (root / "runs" / "linked.jsonl").symlink_to(root / "inside.jsonl")  # inside the roots: fine
    at = open_app(source="folder", folder=str(root / "runs"))
    assert not at.exception, at.exception
    loaded = at.session_state["loaded"]
    assert sorted(r.info.run_id for r in loaded.runs) == ["runs/linked.jsonl", "runs/ok.jsonl"]
    metrics = {m for r in loaded.runs for m in r.frame["metric"].astype(str)}
    assert not any("SECRET" in m or "password" in m for m in metrics)
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in loaded.problems}
    assert "leaves the allowed folders" in reasons["train.jsonl"]
    assert "leaves the allowed folders" in reasons["metrics.csv"]


def test_a_file_leading_outside_the_roots_is_not_even_opened(root, tmp_path, monkeypatch):
    """The run search used to read the first bytes of such a file to tell its format."""
    from forge_monitor.ingest import discover

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"step": 1, "loss": 1.0}\n')
    (root / "runs" / "ok.jsonl").write_text(jsonl(range(1, 5)))
    (root / "runs" / "train.jsonl").symlink_to(outside / "secret.jsonl")
    sniffed = []
    real_head = discover._head
    monkeypatch.setattr(discover, "_head", lambda path, *a, **k: sniffed.append(str(path)) or real_head(path, *a, **k))
    at = open_app(source="folder", folder=str(root / "runs"))
    assert not at.exception, at.exception
    assert str(root / "runs" / "ok.jsonl") in sniffed and str(root / "runs" / "train.jsonl") not in sniffed
    reasons = {p.path.rsplit("/", 1)[-1]: p.reason for p in at.session_state["loaded"].problems}
    assert "leaves the allowed folders" in reasons["train.jsonl"]


def test_a_symlinked_folder_leading_outside_the_roots_is_not_entered(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jsonl").write_text('{"step": 1, "SECRET_TOKEN": 43.0, "loss": 1.0}\n')
    (root / "runs" / "ok.jsonl").write_text(jsonl(range(1, 5)))
    (root / "runs" / "linkdir").symlink_to(outside)
    at = open_app(source="folder", folder=str(root / "runs"))
    assert not at.exception, at.exception
    loaded = at.session_state["loaded"]
    assert [r.info.run_id for r in loaded.runs] == ["runs/ok.jsonl"]
    assert not any("SECRET" in m for r in loaded.runs for m in r.frame["metric"].astype(str))


def test_a_symlinked_recipe_leading_outside_refuses_its_run(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "recipe.yaml").write_text("run:\n  name: secret\ntraining_config:\n  max_steps: 7\n")
    (root / "runs" / "train.jsonl").write_text(jsonl(range(1, 5)))
    (root / "runs" / "recipe.yaml").symlink_to(outside / "recipe.yaml")
    at = open_app(source="folder", folder=str(root / "runs"))
    loaded = at.session_state["loaded"]
    assert not loaded.runs
    assert any("recipe.yaml" in p.reason and "leaves the allowed folders" in p.reason for p in loaded.problems)


# --- M8: uploads ---------------------------------------------------------------------------------

def test_an_upload_is_written_once_and_replaced_by_the_next(tmp_path):
    from types import SimpleNamespace

    from forge_monitor.ui.data import keep_upload, load_cached

    def uploaded(file_id, data):
        return SimpleNamespace(name="train.jsonl", file_id=file_id, getvalue=lambda: data.encode())

    first = keep_upload(uploaded("f1", jsonl(range(1, 31))), None)
    log = first.path / "train.jsonl"
    written = log.stat().st_mtime_ns
    assert keep_upload(uploaded("f1", jsonl(range(1, 31))), first) is first  # a rerun (any click)
    assert log.stat().st_mtime_ns == written  # not written again
    assert load_cached(first.path).runs[0].frame["step"].max() == 30
    second = keep_upload(uploaded("f2", jsonl(range(1, 301), nan_at=250)), first)  # same name, new bytes
    assert not first.path.exists()  # the replaced upload's folder is gone
    run = load_cached(second.path).runs[0]
    report = load_cached(second.path).reports[run.info.run_id]
    assert run.frame["step"].max() == 300 and any(a.detector == "nonfinite" for a in report.alerts)
    second.remove()
    assert not second.path.exists()  # the uploader was cleared


def test_an_upload_folder_goes_with_the_session():
    from types import SimpleNamespace

    from forge_monitor.ui.data import keep_upload

    upload = keep_upload(SimpleNamespace(name="..", file_id="f1", getvalue=lambda: b'{"step": 1, "loss": 1}\n'), None)
    path = upload.path
    assert [p.name for p in path.iterdir()] == ["upload"]  # a name like '..' cannot point elsewhere
    same = keep_upload(SimpleNamespace(name="..", file_id="f2", getvalue=lambda: b'{"step": 1, "loss": 1}\n'), upload)
    assert same is upload  # the same bytes again: kept, not written again
    del upload, same
    gc.collect()
    assert not path.exists()  # the session's state was dropped: its upload folder is removed


def test_a_refused_folder_is_named_as_typed_not_where_it_resolves(tmp_path, monkeypatch):
    """Audit L10: `/proc/self/cwd` or `~` printed the resolved server path (a symlink's target)."""
    from forge_monitor.ui.data import check_folder

    allowed = tmp_path / "allowed"
    allowed.mkdir()
    secret = tmp_path / "secret-target-name"
    secret.mkdir()
    (allowed / "link").symlink_to(secret)
    monkeypatch.setenv("FORGE_MONITOR_ROOTS", str(allowed))
    folder, reason = check_folder(str(allowed / "link"))
    assert folder is None and "secret-target-name" not in reason and str(allowed / "link") in reason
    folder, reason = check_folder("~")
    assert folder is None and reason.startswith("'~' is outside the allowed folders")


def test_editing_the_thresholds_file_re_checks_the_folders_runs(root, tmp_path, monkeypatch):
    """`dashboard --config FILE`: a run loaded before the file changed is checked again with the new
    thresholds (the folder cache's key and each run's signature carry the file's identity)."""
    import os

    from forge_monitor.ui.data import load_cached

    log = root / "runs" / "train.jsonl"
    log.write_text(jsonl(range(1, 101)))
    config = tmp_path / "thresholds.toml"
    config.write_text("[stalled]\n")
    monkeypatch.setenv("FORGE_MONITOR_CONFIG", str(config))
    folder = (root / "runs").resolve()
    first = load_cached(folder)
    assert load_cached(folder) is first
    config.write_text("[loss_spike]\nz_threshold = 6\n")
    os.utime(config, ns=(1, os.stat(config).st_mtime_ns + 1_000_000))
    second = load_cached(folder)
    assert second is not first and second.runs[0] is not first.runs[0]
