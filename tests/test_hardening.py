"""Input hardening (issue 11; audit 2026-11-29 H4, H5, M2, M5, M7): one hostile or malformed input
costs a bounded amount of memory and time, gets a one-line reason, and loses nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from forge_monitor.ingest import load_paths
from forge_monitor.recipes import RecipeError, lint, normalize, parse_recipe_text, read_recipe


def _bomb(levels: int) -> str:
    """The audit's YAML alias bomb: 10 ** levels leaf paths from under 1 KB of text."""
    lines = ["run:", "  name: x", "training_config:", "  max_steps: 10",
             "a0: &a0 {" + ", ".join(f"k{i}: 1" for i in range(10)) + "}"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} {{" + ", ".join(f"k{i}: *a{level - 1}" for i in range(10)) + "}")
    return "\n".join(lines) + "\n"


# The child's thread pools and malloc arenas pinned: each thread reserves address space, which RLIMIT_AS
# counts, so unpinned the child's footprint grows with the machine's cores (pyarrow and OpenBLAS start a
# thread per core). Pinned, a child that reads a log peaks at about 1.8 GB of address space (2.6 GB
# unpinned on 2 cores); the limit sits well above that. Below a process's natural peak its allocators
# fail at random places (measured: a hang at 1.3 GB, a panic at 2.0 GB, a pass at 1.5 GB), so the limit
# is a guard against a runaway child, and each test asserts its resident memory (VmHWM) itself.
_CHILD_ENV = {"POLARS_MAX_THREADS": "2", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
_CHILD_ADDRESS_SPACE = 3 << 30


def _bounded(code: str, timeout: float = 60, *, limit_memory: bool = True) -> subprocess.CompletedProcess:
    """Run ``code`` in a child limited to 3 GB of address space, so a failing test cannot take the machine."""
    limit = f"({_CHILD_ADDRESS_SPACE}, {_CHILD_ADDRESS_SPACE})"
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, {limit})\n" if limit_memory else ""
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **_CHILD_ENV})


# --- H4: YAML alias bomb ------------------------------------------------------------------------

def test_alias_bomb_is_refused_quickly_in_bounded_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(9))
    assert path.stat().st_size < 1000
    child = _bounded(f"""
        import resource, time
        from forge_monitor.recipes import RecipeError, lint, read_recipe
        start = time.perf_counter()
        try:
            lint(read_recipe({str(path)!r}))
            print("read")
        except RecipeError as err:
            print("refused:", err)
        print("seconds", time.perf_counter() - start)
        # VmHWM, not ru_maxrss: ru_maxrss keeps the high-water mark of the forked parent (a pytest
        # process of the whole suite is larger than the bound), VmHWM is this program's own.
        print("maxrss_kb", next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")))
    """)
    assert child.returncode == 0, child.stderr[-2000:]
    out = child.stdout
    assert "refused:" in out and "alias" in out, out
    assert float(out.split("seconds ")[1].split()[0]) < 5
    assert int(out.split("maxrss_kb ")[1].split()[0]) < 400_000


def test_small_alias_bomb_next_to_a_log_costs_only_its_recipe(tmp_path):
    (tmp_path / "recipe.yaml").write_text(_bomb(7))
    (tmp_path / "train.jsonl").write_text("".join(f'{{"step": {i}, "loss": 0.{i}}}\n' for i in range(1, 4)))
    child = _bounded(f"""
        from forge_monitor.ingest import load_paths
        result = load_paths([{str(tmp_path)!r}])
        print(len(result.runs), result.runs[0].frame.step.max())
    """)
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.split() == ["1", "3"]


def test_ordinary_anchors_and_merge_keys_still_read():
    recipe = parse_recipe_text(textwrap.dedent("""
        base: &base {lr: 1.0e-5, warmup_steps: 10}
        run: {name: x, model_name_or_path: nova-lite-2/prod}
        training_config:
          max_steps: 100
          optim_config:
            <<: *base
            lr: 2.0e-5
    """))
    assert recipe["training_config"]["optim_config"] == {"lr": 2.0e-5, "warmup_steps": 10}
    assert normalize(recipe).learning_rate == 2.0e-5


def test_recursive_alias_is_refused():
    with pytest.raises(RecipeError, match="alias"):
        parse_recipe_text("run: &r {name: x, again: *r}\n")


def test_deeply_nested_yaml_is_a_one_line_error_not_a_crash(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("run: " + "[" * 100_000 + "]" * 100_000 + "\n")  # libyaml's composer overflows the C stack
    child = _bounded(f"""
        from forge_monitor.recipes import RecipeError, read_recipe
        try:
            read_recipe({str(path)!r})
        except RecipeError as err:
            print("refused:", err)
    """)
    assert child.returncode == 0, (child.returncode, child.stderr[-2000:])
    assert "refused:" in child.stdout and "deep" in child.stdout


def test_huge_integer_in_a_recipe_is_a_recipe_error():
    with pytest.raises(RecipeError, match="learning_rate|number"):
        parse_recipe_text("run: {name: x}\ntraining_config: {optim_config: {lr: " + "9" * 5000 + "}}\n")


def test_oversized_recipe_is_refused_naming_the_limit(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("run: {name: x}\n" + "".join(f"k{i}: {i}\n" for i in range(200_000)))
    with pytest.raises(RecipeError, match="MB"):
        read_recipe(path)
    with pytest.raises(RecipeError, match="MB"):
        parse_recipe_text(path.read_text())


def test_lint_of_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "recipe.yaml"
    os.mkfifo(fifo)
    child = _bounded(f"""
        from forge_monitor.recipes import RecipeError, read_recipe
        try:
            read_recipe({str(fifo)!r})
        except RecipeError as err:
            print("refused:", err)
    """, timeout=30)  # opening a FIFO for reading blocks until a writer comes: never open one
    assert "refused:" in child.stdout and "not a regular file" in child.stdout


def test_unknown_fields_are_listed_up_to_a_bound():
    spec = {"run": {"name": "x"}, "training_config": {"max_steps": 10}}
    node = spec
    for depth in range(5000):  # deeper than the interpreter's recursion limit
        node[f"d{depth}"] = {}
        node = node[f"d{depth}"]
    node["leaf"] = 1
    spec["wide"] = {f"k{i}": 1 for i in range(50_000)}
    view, = [lint(spec)[1]]
    assert 0 < len(view.unknown_fields) <= 10_001
    assert any("more" in f for f in view.unknown_fields)


# --- H5: one bad value is that file's problem, never every run's ---------------------------------

def _good_run(folder, name="train.jsonl", steps=3):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(f'{{"step": {i}, "loss": 0.{i}}}\n' for i in range(1, steps + 1)))
    return folder / name


@pytest.mark.parametrize("bad_line", [
    '{"step": 1e30, "loss": 0.1}',
    '{"step": -1e19, "loss": 0.1}',
    '{"step": 4, "loss": ' + "[" * 5000 + "]" * 5000 + "}",
])
def test_a_bad_jsonl_line_is_skipped_and_every_run_is_kept(tmp_path, bad_line):
    _good_run(tmp_path / "a")
    bad = _good_run(tmp_path / "b")
    with bad.open("a") as handle:
        handle.write(bad_line + "\n")
    result = load_paths([str(tmp_path)])
    assert not result.errors and not result.problems
    runs = {run.info.run_id: run for run in result.runs}
    assert sorted(runs) == ["a/train.jsonl", "b/train.jsonl"]
    b = runs["b/train.jsonl"]
    assert sorted(b.frame[b.frame.metric == "train_loss"].step) == [1, 2, 3]
    assert [s.line for s in b.info.skipped] == [4]


def test_a_huge_step_in_the_first_jsonl_row_is_skipped(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"step": 1e30, "loss": 0.1}\n{"step": 2, "loss": 0.2}\n')
    run = load_paths([str(path)]).runs[0]
    assert list(run.frame.step) == [2]
    assert "out of range" in run.info.skipped[0].reason


def test_a_huge_step_in_a_csv_row_is_skipped(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,loss\n1,0.5\n1e30,0.4\n3,0.3\n")
    run = load_paths([str(path)]).runs[0]
    assert sorted(run.frame.step) == [1, 3]
    assert [s.line for s in run.info.skipped] == [3]


def test_huge_steps_in_trainer_state_and_console_dicts_are_skipped(tmp_path):
    state = {"global_step": 2, "log_history": [{"step": 1, "loss": 0.5}, {"step": 1e30, "loss": 0.4},
                                                {"step": 2, "loss": 0.3}]}
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "trainer_state.json").write_text(json.dumps(state))
    (tmp_path / "console.log").write_text("{'loss': 0.5, 'step': 1}\n{'loss': 0.4, 'step': 1e30}\n{'loss': 0.3, 'step': 2}\n")
    result = load_paths([str(tmp_path)])
    assert not result.problems and len(result.runs) == 2
    for run in result.runs:
        assert sorted(run.frame[run.frame.metric == "train_loss"].step) == [1, 2], run.info.run_id
        assert any("out of range" in s.reason for s in run.info.skipped), run.info.run_id


def test_deeply_nested_trainer_state_is_that_runs_warning(tmp_path):
    _good_run(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "trainer_state.json").write_text('{"log_history": [{"step": 1, "loss": 0.5}], "x": '
                                                       + "[" * 100_000 + "]" * 100_000 + "}")
    result = load_paths([str(tmp_path)])
    assert sorted(r.info.run_id for r in result.runs) + [p.path for p in result.problems] in (
        [["a/train.jsonl", "b/trainer_state.json"]], ["a/train.jsonl", "b/trainer_state.json"])


def test_deep_recipe_and_eval_results_next_to_a_log_cost_only_themselves(tmp_path):
    _good_run(tmp_path / "a")
    _good_run(tmp_path / "b")
    (tmp_path / "b" / "recipe.yaml").write_text("run: " + "[" * 1500 + "]" * 1500 + "\n")
    (tmp_path / "b" / "eval_results.json").write_text('{"dataset": ' + "[" * 100_000 + "]" * 100_000 + "}")
    result = load_paths([str(tmp_path)])
    assert not result.errors
    assert sorted(r.info.run_id for r in result.runs) == ["a/train.jsonl", "b/train.jsonl"]
    b = next(r for r in result.runs if r.info.run_id == "b/train.jsonl")
    assert any("eval_results.json" in w for w in b.info.warnings)


def test_any_failure_of_one_file_is_listed_for_that_file(tmp_path):
    _good_run(tmp_path / "a")
    (tmp_path / "b").mkdir()
    # A Nova line with a step beyond int64 (the Nova parser itself is outside this change): whatever a
    # parser raises, the load loop lists that file and keeps the others.
    (tmp_path / "b" / "train.log").write_text(
        "Training epoch 0, iteration 1/2 | lr: 1e-05 | global_step: 1 | reduced_train_loss: 0.9\n"
        "Training epoch 0, iteration 2/2 | lr: 1e-05 | global_step: 1e30 | reduced_train_loss: 0.8\n")
    result = load_paths([str(tmp_path)])
    assert [r.info.run_id for r in result.runs][0] == "a/train.jsonl"
    assert len(result.runs) == 2 or [p.path.endswith("b/train.log") for p in result.problems] == [True]


def test_a_failure_of_a_file_named_alone_is_an_error_line(tmp_path, monkeypatch):
    from forge_monitor.ingest import discover

    path = _good_run(tmp_path)

    def broken(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(discover.LiveRun, "refresh", broken)
    result = load_paths([str(path), str(tmp_path)])
    assert not result.runs
    assert [e.path for e in result.errors] == [str(path)]
    assert "too deeply nested" in result.errors[0].reason
    assert len(result.problems) == 1 and "too deeply nested" in result.problems[0].reason


def test_deeply_nested_metric_definitions_are_a_value_error(tmp_path):
    from forge_monitor.ingest import load_definitions

    for name, text in (("defs.json", "[" * 100_000 + "]" * 100_000), ("defs.yaml", "a: " + "[" * 100_000 + "]" * 100_000)):
        path = tmp_path / name
        path.write_text(text)
        child = _bounded(f"""
            from forge_monitor.ingest import load_definitions
            try:
                load_definitions({str(path)!r})
            except ValueError as err:
                print("refused:", err)
        """)
        assert child.returncode == 0 and "refused:" in child.stdout, (name, child.returncode, child.stderr[-1000:])


def test_huge_step_through_metric_definitions_is_skipped(tmp_path):
    from forge_monitor.ingest import parse_definitions

    definitions = parse_definitions({"StepRegex": r"s:(\S+)", "MetricDefinitions": [{"Name": "train_loss", "Regex": r"trl:(\S+)"}]})
    path = tmp_path / "train.txt"
    path.write_text("s:1 trl:0.5\ns:1e30 trl:0.4\ns:inf trl:0.3\ns:3 trl:0.2\n")
    run = load_paths([str(path)], definitions=definitions).runs[0]
    assert sorted(run.frame.step) == [1, 3]
    assert len(run.info.skipped) == 2


# --- M7: ordinary mistakes on the command line: one line, exit 2, no traceback ------------------------

def _cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "forge_monitor", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"})


def _mistakes(tmp_path):
    log = _good_run(tmp_path / "runs")
    deep_toml = tmp_path / "deep.toml"
    deep_toml.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_text("run: " + "[" * 1500 + "]" * 1500 + "\n")
    digits = tmp_path / "digits.yaml"
    digits.write_text("run: {name: x}\ntraining_config: {optim_config: {lr: " + "9" * 5000 + "}}\n")
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    return [
        ("scan", "--cloudwatch", "j", "--region", "us east/1"),
        ("scan", "--cloudwatch", "j", "--region", "us-east-1", "--endpoint-url", "not a url"),
        ("scan", log, "--config", deep_toml),
        ("scan", log, "--config", fifo),
        ("report", log, "--config", fifo, "-o", tmp_path / "r.html"),
        ("scan", log, "--metric-definitions", fifo),
        ("lint", deep_yaml),
        ("lint", digits),
        ("lint", fifo),
        ("lint", tmp_path),
        ("report", log, "-o", tmp_path / "missing" / "r.html"),
        ("report", log, "-o", tmp_path),
    ]


def test_ordinary_mistakes_get_one_line_and_exit_2(tmp_path):
    for args in _mistakes(tmp_path):
        done = _cli(*args)
        assert done.returncode == 2, (args, done.returncode, done.stderr[-1500:])
        assert "Traceback" not in done.stderr, (args, done.stderr[-1500:])
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("forge-monitor: "), (args, done.stderr)


# --- M2: a large JSONL truncated during its first read ------------------------------------------------

def test_jsonl_truncated_during_its_first_read_never_kills_the_process(tmp_path):
    path = tmp_path / "big.jsonl"
    line = '{"step": %d, "loss": 0.5, "learning_rate": 1e-05, "grad_norm": 1.25, "epoch": 0.001}\n'
    with path.open("w") as handle:
        handle.writelines(line % i for i in range(1, 260_001))  # over reader.MAP_JSONL_BYTES (16 MB)
    assert path.stat().st_size > 17 << 20
    # The writer truncates the file (open(..., "w"), copytruncate) while the reader counts its lines: the
    # count is where the truncation lands, deterministically.
    child = _bounded(f"""
        import os
        from forge_monitor.ingest import load_paths, tabular
        real = tabular.count_byte
        def count_then_truncate(data, byte):
            os.truncate({str(path)!r}, 1000)
            return real(data, byte)
        tabular.count_byte = count_then_truncate
        result = load_paths([{str(path)!r}])
        print("alive", len(result.runs), [str(e) for e in result.errors])
    """, limit_memory=False)  # polars' thread arenas reserve address space; this child is not a memory test
    assert child.returncode == 0, (child.returncode, child.stderr[-1500:])
    assert "alive" in child.stdout


# --- M5: catastrophic regexes in metric definitions ----------------------------------------------

def test_a_catastrophic_metric_regex_cannot_hang_a_scan(tmp_path):
    """``(a+)+$`` on 'aaa...!' backtracks for hours in Python's re; the lines are matched in linear time."""
    log = tmp_path / "main.log"
    log.write_text("".join(f"s:{i} loss:{1.0 / i} " + "a" * 40 + "!\n" for i in range(1, 51)))
    defs = tmp_path / "defs.json"
    defs.write_text(json.dumps({"StepRegex": r"s:(\d+) ",
                                "MetricDefinitions": [{"Name": "train_loss", "Regex": r"loss:([0-9.]+)"},
                                                      {"Name": "evil", "Regex": r"((a+)+)$"}]}))
    try:
        done = subprocess.run([sys.executable, "-m", "forge_monitor", "scan", str(log), "--metric-definitions", str(defs),
                               "--json"], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("scan did not finish in 120 s: the regex backtracked")
    run = json.loads(done.stdout)["runs"][0]
    assert run["steps"] == {"first": 1, "last": 50, "count": 50} and "train_loss" in run["metrics"]


def test_look_around_in_a_metric_regex_is_refused_with_the_reason():
    from forge_monitor.ingest import parse_definitions

    with pytest.raises(ValueError, match="linear-time matcher lacks"):
        parse_definitions([{"Name": "train_loss", "Regex": r"(?<=loss: )([0-9.]+)"}])


def test_metric_definitions_read_incrementally_carry_the_last_step(tmp_path):
    from forge_monitor.ingest import LiveRun, parse_definitions
    from forge_monitor.schema import RunInfo

    definitions = parse_definitions({"StepRegex": r"^step (\d+)", "MetricDefinitions": [
        {"Name": "train_loss", "Regex": r"loss ([0-9.]+)"}, {"Name": "val_loss", "Regex": r"^val ([0-9.]+)"}]})
    path = tmp_path / "main.log"
    path.write_text("noise\nstep 1 loss 2.0\nstep 2 loss 1.5\n")
    live = LiveRun(RunInfo(run_id="r", source=str(path), format=""), [[path]], definitions=definitions)
    live.refresh()
    with open(path, "a") as handle:
        handle.write("val 1.7\nstep 3 loss 1.2.3\nstep 4 loss 1.0\n")
    live.refresh()
    frame = live.frame
    assert frame[frame.metric == "val_loss"].set_index("step").value.to_dict() == {2: 1.7}  # the last step seen
    assert frame[frame.metric == "train_loss"].set_index("step").value.to_dict() == {1: 2.0, 2: 1.5, 4: 1.0}
    assert [(s.line, s.reason) for s in live.info.skipped] == [(5, "train_loss: '1.2.3' is not a number")]


def test_a_huge_nova_line_is_skipped_not_exploded_into_memory(tmp_path):
    """Audit L9: one 10 MB line of a million `| k: 1.0` fields cost 514 MB."""
    path = tmp_path / "train.log"
    huge = "Training epoch 0, iteration 2/3 | global_step: 2" + "".join(f" | k{i}: 1.0" for i in range(1_000_000))
    path.write_text("Training epoch 0, iteration 1/3 | global_step: 1 | reduced_train_loss: 1.0\n" + huge + "\n"
                    "Training epoch 0, iteration 3/3 | global_step: 3 | reduced_train_loss: 0.5\n")
    child = _bounded(f"""
        from forge_monitor.ingest import load_paths
        run = load_paths([{str(path)!r}]).runs[0]
        print(sorted(run.frame.step.unique().tolist()), run.info.skipped[0].line, run.info.skipped[0].reason[:40])
        print("hwm_kb", next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")))
    """)
    assert child.returncode == 0, child.stderr[-2000:]
    first, second = child.stdout.splitlines()
    assert first.startswith("[1, 3] 2 a line of") and int(second.split()[1]) < 400_000
