"""Issue 17, the medium and low findings left after H1-H5: the x-axis selector (M2), Compare (M4), the
sweep table (M5), the chart grid (M3), the post-mortem chart and root cause (M7), the active thresholds
(M9) and the smaller ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE_LOGS
from forge_monitor.ingest import load_paths
from forge_monitor.xaxis import x_axes
from test_app import chart_specs, open_app

OVERFIT = "nova-sft-2epoch-overfit/train.log"


def _x(trace) -> np.ndarray:
    import base64

    x = trace["x"]
    if isinstance(x, dict):
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
    return np.asarray(x)


# --- M2: the x-axis selector ---------------------------------------------------------------------------

def test_a_run_offers_the_axes_it_logs_and_maps_steps_both_ways():
    run = load_paths([SAMPLE_LOGS / "nova-sft-2epoch-overfit"]).runs[0]
    axes = x_axes(run.frame)
    assert list(axes) == ["step", "epoch", "samples", "wall_time", "relative"]
    epoch = axes["epoch"]
    # Nova logs the epoch as an integer (0 for all of the first 312 steps): made fractional.
    assert epoch.numbers([1, 157, 313, 624]) == pytest.approx([0.0, 0.5, 1.0, 1.997], abs=2e-3)
    assert epoch.to_step(epoch.numbers([100, 400])) == pytest.approx([100, 400])
    wall = axes["wall_time"]
    shown = [str(t) for t in wall.to_x([50, 500])]  # plotly hands a date axis's selection back as strings
    assert wall.to_step(shown) == pytest.approx([50, 500], abs=0.01)
    assert axes["relative"].numbers([1])[0] == 0.0 and axes["relative"].title.startswith("relative time (")
    one_epoch = x_axes(load_paths([SAMPLE_LOGS / "nova-sft-datamix-high-lr"]).runs[0].frame)
    assert "epoch" not in one_epoch  # epoch 0 throughout: no fraction can be told, so no epoch axis
    bare = pd.DataFrame({"run_id": "r", "step": [1, 2, 3], "metric": "train_loss", "value": [1.0, 0.9, 0.8],
                         "wall_time": np.nan})
    assert list(x_axes(bare)) == ["step"]


def test_the_run_page_draws_every_chart_against_the_chosen_axis_and_keeps_the_zoom_in_steps():
    at = open_app(run=OVERFIT)
    assert not at.exception, at.exception
    assert [s["layout"]["xaxis"]["title"]["text"] for s in chart_specs(at)] == ["step"] * 3
    at.selectbox(key="x_axis").set_value("epoch").run()
    assert not at.exception, at.exception
    specs = chart_specs(at)
    assert [s["layout"]["xaxis"]["title"]["text"] for s in specs] == ["epoch"] * 3
    loss = specs[0]
    assert _x(loss["data"][0]).max() == pytest.approx(2.0, abs=0.01)  # 624 steps are two epochs
    onset = [s for s in loss["layout"]["shapes"] if s["type"] == "line" and s.get("line", {}).get("dash") == "dot"]
    assert onset[0]["x0"] == pytest.approx(364 / 312 - 1 / 312, abs=1e-3)  # the overfitting onset, step 364
    assert "step %{customdata}" in loss["data"][0]["hovertemplate"]  # the hover still names the step
    # A card zooms every chart; the zoom is held in steps and drawn in epochs.
    focus = next(b.key for b in at.button if b.key and b.key.endswith("-focus"))
    at.button(key=focus).click().run()
    held = at.session_state["zoom"][1]
    ranges = [s["layout"]["xaxis"]["range"] for s in chart_specs(at)]
    axis = x_axes(at.session_state["selected"][0].frame)["epoch"]
    assert ranges == [list(axis.numbers(held))] * 3
    at.selectbox(key="x_axis").set_value("step").run()  # back to steps: the same steps
    assert [s["layout"]["xaxis"]["range"] for s in chart_specs(at)] == [list(held)] * 3


def test_a_range_dragged_against_epochs_becomes_a_step_zoom():
    at = open_app(run=OVERFIT)
    at.selectbox(key="x_axis").set_value("epoch").run()
    at.session_state["chart-Loss-0"] = {"selection": {"box": [{"x": [0.5, 1.0], "y": [0, 1]}], "points": [],
                                                      "point_indices": [], "lasso": []}}
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["zoom"][1] == pytest.approx((156.5, 313.0), abs=0.6)
    assert [s["layout"]["xaxis"]["range"] for s in chart_specs(at)] == [pytest.approx([0.5, 1.0], abs=2e-3)] * 3


def test_wall_time_is_a_date_axis_with_alerts_on_it():
    at = open_app(run=OVERFIT)
    at.selectbox(key="x_axis").set_value("wall_time").run()
    assert not at.exception, at.exception
    loss = chart_specs(at)[0]
    assert loss["layout"]["xaxis"]["title"]["text"] == "wall time (UTC)"
    assert str(loss["data"][0]["x"][0]).startswith("20")  # datetimes, not seconds since 1970
    assert any(str(s.get("x0", "")).startswith("20") for s in loss["layout"]["shapes"])


# --- M4: Compare -----------------------------------------------------------------------------------------

def _compare(**query):
    at = open_app(**query)
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    return at


def _lines(spec) -> dict:
    """legend name -> (colour, opacity, y values) of the lines in a chart (markers of alerts left out)."""
    out = {}
    for trace in spec["data"]:
        if trace.get("mode", "lines").startswith("lines"):
            out.setdefault(trace["name"], []).append((trace["line"]["color"], trace.get("opacity", 1.0), trace))
    return out


def test_compare_shows_several_metrics_every_run_in_the_hover_one_colour_per_run_and_raw_under_smoothed():
    at = _compare()
    runs = at.multiselect(key="compare_runs").value
    assert len(runs) == 4
    at.multiselect(key="compare_metrics").set_value(["train_loss", "throughput", "step_time"]).run()
    assert not at.exception, at.exception
    specs = chart_specs(at)
    assert [s["layout"]["title"]["text"] for s in specs] == ["train_loss", "throughput", "step_time"]
    assert {s["layout"]["hovermode"] for s in specs} == {"x unified"}  # every run's value at the step
    colours = [{name: lines[0][0] for name, lines in _lines(s).items()} for s in specs]
    assert len(colours[0]) == 4 and len(set(colours[0].values())) == 4
    assert all(colours[0][name] == colour for c in colours[1:] for name, colour in c.items())  # one colour a run
    assert not any(name.endswith("/train.log") for name in colours[0])  # the legend drops what every run shares
    # Smoothing is on by default and each run's raw line stays, faded, under its smoothed one.
    assert at.slider(key="compare_smoothing").value == 0.6
    for name, lines in _lines(specs[0]).items():
        (raw_colour, raw_opacity, _), (smooth_colour, smooth_opacity, smoothed) = lines
        assert raw_colour == smooth_colour and raw_opacity < 0.5 and smooth_opacity == 1.0
        assert "(raw %{customdata" in smoothed["hovertemplate"]
    # Dropping a run never recolours the others.
    at.multiselect(key="compare_runs").set_value(runs[1:]).run()
    kept = {name: lines[0][0] for name, lines in _lines(chart_specs(at)[0]).items()}
    assert kept and all(colours[0][name] == colour for name, colour in kept.items())


def test_compare_marks_each_runs_alerts_on_its_line():
    at = _compare(run="nova-sft-datamix-high-lr/train.log")
    loss = chart_specs(at)[0]
    marks = [t for t in loss["data"] if t.get("mode") == "markers"]
    report = at.session_state["loaded"].reports["nova-sft-datamix-high-lr/train.log"]
    onsets = sorted(a.step for a in report.alerts if a.metric == "train_loss")
    assert len(onsets) == 3  # its three loss spikes
    assert sorted(t["x"][0] for t in marks) == onsets and all("loss_spike" in t["hovertemplate"] for t in marks)


def test_compare_warns_when_a_runs_steps_are_not_optimizer_steps(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "m.jsonl").write_text("".join(f'{{"step": {i}, "loss": {1 / i}}}\n' for i in range(1, 80)))
    (tmp_path / "b").mkdir()  # console dicts with no step and no progress bar: steps are the order of the dicts
    (tmp_path / "b" / "train.log").write_text("".join(f"{{'loss': {1 / i:.4f}, 'learning_rate': 1e-05, 'epoch': {i / 100}}}\n"
                                                      for i in range(1, 80)))
    monkeypatch.setenv("FORGE_MONITOR_ROOTS", str(tmp_path))
    at = _compare(source="folder", folder=str(tmp_path), run="a/m.jsonl")
    at.multiselect(key="compare_runs").set_value(["a/m.jsonl", "b/train.log"]).run()
    assert any("Not aligned with the others by optimizer step" in w.value and "b/train.log" in w.value
               for w in at.warning), [w.value for w in at.warning]


# --- M5: the sweep table ---------------------------------------------------------------------------------

def test_sweep_columns_cannot_be_confused_and_each_has_help():
    from forge_monitor.sweep import SWEEP_HELP

    at = _compare()
    table = at.dataframe[0].value
    columns = list(table.columns)
    assert "rank" not in columns and "place" not in columns and "GBS" not in columns
    assert {"LoRA rank", "place in dataset", "global batch size", "learning rate"} <= set(columns)
    # the target metric next to the run, before the hyperparameters
    assert columns.index("tuned score %") < columns.index("LoRA rank")
    assert columns.index("place in dataset") < columns.index("LoRA rank")
    assert set(SWEEP_HELP) == set(columns) - {"run id"}
    places = table[table["dataset"] == table["dataset"].iloc[0]]["place in dataset"].tolist()
    assert places == sorted(places) and places[0] == 1
    assert not [e for e in at.expander if "run(s) with scores" in e.label]  # sweep runs compared: the table open
    at.multiselect(key="compare_runs").set_value(["nova-rft-healthy/train.log", "trl-grpo-console/stdout.log"]).run()
    assert not at.exception, at.exception
    assert [e.label for e in at.expander if "run(s) with scores" in e.label] == ["6 run(s) with scores"]  # folded away
    assert any("None of the runs compared above is in it" in c.value for c in at.caption)


# --- M7: the post-mortem page ------------------------------------------------------------------------------

def test_postmortem_names_the_recipe_finding_first_and_charts_the_main_metric_with_every_incident():
    at = open_app(run="nova-sft-datamix-high-lr/train.log")
    at.switch_page("pages/postmortem.py").run()
    assert not at.exception, at.exception
    first = next(m.value for m in at.markdown if "What went wrong first" in m.value)
    assert "the recipe — `lr_off_default_with_mixing`" in first  # was: grad_norm_spike at step 140
    assert first.index("lr_off_default_with_mixing") < first.index("`grad_norm_spike` at step 140")  # cause, then alert
    assert any(i.value.startswith("**Change first:** Use the service default") for i in at.info)
    (chart,) = chart_specs(at)
    assert chart["layout"]["title"]["text"] == "Loss" and "range" not in chart["layout"].get("yaxis", {})  # full range
    labels = [a["text"] for a in chart["layout"]["annotations"]]
    assert labels.count("⚠ loss_spike") == 3
    bands = [s for s in chart["layout"]["shapes"] if s["type"] == "rect"]
    assert len(bands) >= 3 + 3  # the loss spikes' bands and the grad-norm spikes that led them
    at = open_app(run="nova-rft-hyperpod-kl-spike/train.log")  # no recipe finding explains it: the alert is named
    at.switch_page("pages/postmortem.py").run()
    assert any("What went wrong first:** `kl_spike` at step 182" in m.value for m in at.markdown)


def test_the_html_report_says_what_went_wrong_first_with_its_recipe_cause():
    from forge_monitor.detectors import run_checks
    from forge_monitor.report import html_report

    run = load_paths([SAMPLE_LOGS / "nova-sft-datamix-high-lr"]).runs[0]
    page = html_report([(run, run_checks(run.frame, run.info))])
    assert "<b>What went wrong first:</b> the recipe, <b>lr_off_default_with_mixing</b>" in page


# --- M9: the active thresholds on the Detector reference page ---------------------------------------------

def test_the_detector_reference_shows_the_thresholds_in_use(tmp_path, monkeypatch):
    at = open_app()
    at.switch_page("pages/detectors.py").run()
    assert not at.exception, at.exception
    assert any("Thresholds in use: the defaults" in c.value for c in at.caption)
    summary = at.dataframe[0].value
    assert len(summary) == 12 and set(summary.loc[summary["core"] == "yes", "detector"]) == {
        "nonfinite", "loss_spike", "overfitting", "kl_spike", "reward_plateau", "reward_gaming"}
    config = tmp_path / "thresholds.toml"
    config.write_text("[loss_spike]\nz_threshold = 7.5\n")
    monkeypatch.setenv("FORGE_MONITOR_CONFIG", str(config))
    at = open_app()
    at.switch_page("pages/detectors.py").run()
    assert not at.exception, at.exception
    assert any("Thresholds in use: `" in c.value and "thresholds.toml`" in c.value and "1 value(s) differ" in c.value
               for c in at.caption)
    assert any("loss_spike" in e.label and "1 threshold(s) changed" in e.label for e in at.expander)
    table = next(d.value for d in at.dataframe if "in use" in d.value.columns and "z_threshold" in set(d.value["name"]))
    row = table[table["name"] == "z_threshold"].iloc[0]
    assert (row["in use"], row["default"], row["changed"]) == ("7.5", "5.0", "✎")
    config.write_text("[loss_spike]\nno_such_field = 1\n")
    at = open_app()
    at.switch_page("pages/detectors.py").run()
    assert any("could not be read" in e.value for e in at.error)


# --- M8, L5, M3 ----------------------------------------------------------------------------------------

def test_the_live_demo_folder_is_named_for_what_it_is_not_its_temp_name(monkeypatch):
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="forge-monitor-live-")
    try:
        shutil.copytree(SAMPLE_LOGS / "nova-rft-healthy", f"{folder}/nova-rft-healthy")
        monkeypatch.setenv("FORGE_MONITOR_LOGS", folder)
        at = open_app(run="nova-rft-healthy/train.log")
        assert not at.exception, at.exception
        captions = [c.value for c in at.sidebar.caption]
        assert any(c.startswith("The live demo: a sample run replayed") for c in captions)
        assert not any("forge-monitor-live-" in c for c in captions)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    mine = SAMPLE_LOGS.parent / "sample_logs"  # any other folder keeps its name
    monkeypatch.setenv("FORGE_MONITOR_LOGS", str(mine))
    at = open_app()
    assert any("bundled offline demo runs" in c.value for c in at.sidebar.caption)


def test_the_fitted_axis_note_says_how_to_see_the_outliers():
    from forge_monitor.plotting import metric_figure

    frame = pd.DataFrame({"run_id": "r", "step": np.arange(1, 201), "metric": "train_loss",
                          "value": np.r_[np.linspace(2, 1, 150), [40.0], np.linspace(1, 0.9, 49)], "wall_time": np.nan})
    _, note = metric_figure(frame, "train_loss", robust_y=True)
    assert note.startswith("1 point(s) outside the y-range") and "turn off 'Fit y to the bulk'" in note
    assert "zoom out" not in note  # a double-click goes back to the fitted range, not to the outliers


def test_one_chart_per_row_on_request():
    at = open_app(run="nova-sft-datamix-high-lr/train.log")
    assert at.session_state["chart_grid"] == 2
    in_grid = len(at.columns)
    at.segmented_control(key="chart_grid").set_value(1).run()
    assert not at.exception, at.exception
    assert len(chart_specs(at)) == 3
    assert len(at.columns) == in_grid - 4  # three charts two per row: two rows of two columns, now none


# --- L1: log scale per chart, readable log ticks; L10: a chart's own CSV ---------------------------------

def test_log_scale_on_one_chart_and_log_ticks_at_powers_of_ten():
    at = open_app(run="nova-rft-reward-gaming/train.log")
    at.checkbox(key="log-KL to reference").check().run()
    assert not at.exception, at.exception
    types = {s["layout"]["title"]["text"]: s["layout"]["yaxis"].get("type") for s in chart_specs(at)}
    assert types.pop("KL to reference") == "log" and set(types.values()) == {None}  # that chart only
    kl = next(s for s in chart_specs(at) if s["layout"]["title"]["text"] == "KL to reference")
    assert kl["layout"]["yaxis"]["dtick"] == 1  # labels at 0.01, 0.1 ..., not "2" and "5" between them
    at.toggle(key="log_y").set_value(True).run()  # the toggle above still sets every chart
    assert {s["layout"]["yaxis"].get("type") for s in chart_specs(at)} == {"log"}
    assert at.checkbox(key="log-Reward").disabled


def test_each_chart_downloads_its_own_data_as_csv():
    import io

    from forge_monitor.report import chart_csv

    run = load_paths([SAMPLE_LOGS / "nova-sft-2epoch-overfit"]).runs[0]
    table = pd.read_csv(io.BytesIO(chart_csv(run.frame, ["train_loss", "val_loss"])))
    assert list(table.columns) == ["wall_time", "step", "train_loss", "val_loss"]
    assert len(table) == 624 and table["train_loss"].notna().all() and 0 < table["val_loss"].notna().sum() < 100
    frame = pd.DataFrame({"run_id": "r", "step": [1, 2], "metric": ["=cmd", "=cmd"], "value": [1.0, np.inf],
                          "wall_time": np.nan})
    text = chart_csv(frame, ["=cmd"]).decode()
    assert text.splitlines()[0] == "wall_time,step,'=cmd" and text.splitlines()[2].endswith(",inf")
    at = open_app(run="nova-sft-datamix-high-lr/train.log")
    assert [b.key for b in at.get("download_button")] == ["csv-Loss", "csv-Learning rate", "csv-Gradient norm"]


# --- L7: no run picker where it does nothing -------------------------------------------------------------

def _picker_script():
    import streamlit as st

    from forge_monitor.ui.sidebar import run_picker, source_picker

    run, _ = run_picker(source_picker(), show=st.session_state.get("show_picker", True))
    st.title(run.info.run_id)


def test_pages_that_show_no_run_have_no_run_picker_and_keep_the_run():
    """The shared sidebar as app.py draws it on the Recipe check and Detector reference (show=False):
    no picker, and the run picked before is the run picked after (Streamlit drops an undrawn widget's
    value; the default run would come back). The browser test walks the real pages."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_picker_script, default_timeout=90)
    at.query_params["run"] = "nova-rft-hyperpod-kl-spike/train.log"
    at.run()
    assert at.sidebar.selectbox(key="run").value == "nova-rft-hyperpod-kl-spike/train.log"
    at.session_state["show_picker"] = False
    at.run()
    at.run()  # a second run without the picker: the widget's value is gone by now
    assert not at.exception, at.exception
    assert "run" not in [s.key for s in at.sidebar.selectbox]
    assert at.title[0].value == "nova-rft-hyperpod-kl-spike/train.log"
    assert at.query_params["run"] == "nova-rft-hyperpod-kl-spike/train.log"  # still in the shareable link
    at.session_state["show_picker"] = True
    at.run()
    assert at.sidebar.selectbox(key="run").value == "nova-rft-hyperpod-kl-spike/train.log"
    assert at.title[0].value == "nova-rft-hyperpod-kl-spike/train.log"
