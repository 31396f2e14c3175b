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


def _bounded(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a child limited to 1.5 GB of address space, so a failing test cannot take the machine."""
    prelude = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


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
        print("maxrss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
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
