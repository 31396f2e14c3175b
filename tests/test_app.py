"""AppTest for every page: the dashboard opens on the sample logs with no configuration and no network."""

from __future__ import annotations

import json

import pytest

from conftest import SAMPLE_LOGS, open_app
from forge_monitor.samples import SAMPLES



def chart_specs(at) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def pick(at, run_id):
    at.selectbox(key="run").select(run_id).run()
    assert not at.exception, at.exception
    return at


def test_run_page_opens_on_the_samples():
    at = open_app()
    assert not at.exception
    assert at.sidebar.radio[0].value == "samples"
    assert at.title[0].value  # the selected run's id


@pytest.mark.parametrize("folder", [s.folder for s in SAMPLES])
def test_every_sample_run_renders_without_exception(folder):
    at = open_app()
    run_id = next(r.info.run_id for r in at.session_state["loaded"].runs if r.info.run_id.split("/")[0] == folder)
    at.selectbox(key="run").set_value(run_id).run()
    assert not at.exception, at.exception
    assert chart_specs(at), folder
    at.switch_page("pages/postmortem.py").run()
    assert not at.exception, at.exception


def test_loss_spike_sample_lists_the_alert_with_its_remediation_and_draws_it():
    at = open_app(run="nova-sft-datamix-high-lr/train.log")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "loss_spike" in text
    assert any("revert to the default first" in i.value for i in at.info)
    assert any("the first thing to revert" in w.value for w in at.warning)  # the recipe finding beside the alert
    loss_chart = next(s for s in chart_specs(at) if s["layout"]["title"]["text"] == "Loss")
    annotations = [a["text"] for a in loss_chart["layout"].get("annotations", [])]
    assert any("loss_spike" in a for a in annotations)


def test_healthy_sample_lists_no_alert():
    at = open_app(run="nova-sft-lora-healthy/train.log")
    assert not at.exception
    assert any("No alerts" in s.value for s in at.success)
    assert not [m for m in at.markdown if "loss_spike" in m.value]


def test_url_selects_the_run_and_survives_a_page_switch():
    at = open_app(run="nova-rft-hyperpod-kl-spike/train.log")
    assert at.session_state["run"] == "nova-rft-hyperpod-kl-spike/train.log"
    at.switch_page("pages/postmortem.py").run()
    assert not at.exception
    assert at.query_params["run"] == "nova-rft-hyperpod-kl-spike/train.log"  # still in the shareable URL
    assert any("What went wrong first:** `kl_spike` at step 182" in m.value for m in at.markdown)


def test_postmortem_page_exports():
    at = open_app(run="nova-sft-datamix-high-lr/train.log")
    at.switch_page("pages/postmortem.py").run()
    assert not at.exception
    assert any("What went wrong first" in m.value for m in at.markdown)
    assert len(at.get("download_button")) == 4


def test_compare_page_and_sweep_table():
    at = open_app()
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    gains = dict(zip(table["run"], table["relative gain %"]))
    assert gains["sweep-medreason-r32-a64-lr1e-5-312steps"] == pytest.approx(10.75)
    assert gains["sweep-medreason-r64-a64-lr1e-5-312steps"] == pytest.approx(11.16)
    assert round(gains["sweep-llava-cot-r64-a64-lr1e-5-312steps"]) == 322
    assert round(gains["sweep-llava-cot-r32-a128-lr1e-5-312steps"]) == 305
    assert chart_specs(at)


def test_detector_and_recipe_pages_render():
    at = open_app()
    at.switch_page("pages/detectors.py").run()
    assert not at.exception and at.title[0].value == "Detector reference"
    assert len(at.expander) == 12
    at.switch_page("pages/recipe.py").run()
    assert not at.exception
    at.text_area(key="recipe_text").input((SAMPLE_LOGS / "nova-sft-datamix-high-lr" / "recipe.yaml").read_text()).run()
    assert not at.exception
    assert [m.value for m in at.metric][:2] == ["SFT", "lora"]
    assert any("lr_off_default_with_mixing" in m.value for m in at.markdown)
    assert any("revert this first" in i.value for i in at.info)
    at.text_area(key="recipe_text").input("run: [unclosed").run()
    assert any("invalid YAML at line 2, column 1 (while parsing a flow sequence at line 1, column 6)" in e.value
               for e in at.error)  # where libyaml noticed it, and where the bracket was opened


def test_folder_outside_the_allowed_roots_is_refused(tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    monkeypatch.setenv("FORGE_MONITOR_ROOTS", str(allowed))
    at = open_app(source="folder", folder=str(tmp_path / "elsewhere"))
    assert not at.exception
    assert any("outside the allowed folders" in e.value for e in at.sidebar.error)
    (allowed / "run").mkdir()
    (allowed / "run" / "train.log").write_text((SAMPLE_LOGS / "nova-cpt-healthy" / "train.log").read_text())
    at = open_app(source="folder", folder=str(allowed))
    assert not at.exception and not at.sidebar.error
    assert at.session_state["run"] == "run/train.log"


def test_no_roots_configured_refuses_every_folder(monkeypatch):
    monkeypatch.delenv("FORGE_MONITOR_ROOTS", raising=False)
    monkeypatch.delenv("FORGE_MONITOR_LOGS", raising=False)
    at = open_app(source="folder", folder=str(SAMPLE_LOGS))
    assert any("FORGE_MONITOR_ROOTS" in e.value for e in at.sidebar.error)


def test_live_mode_renders_with_a_fragment():
    at = open_app(run="nova-rft-healthy/train.log")
    at.toggle(key="live").set_value(True).run()
    assert not at.exception
    assert any("live · last step 200" in c.value for c in at.caption)


def test_real_long_run_is_downsampled_for_display(real_runs, monkeypatch):
    import base64

    import numpy as np

    monkeypatch.setenv("FORGE_MONITOR_ROOTS", str(real_runs))
    at = open_app(source="folder", folder=str(real_runs), run="sft-baize-tcm-9ep-memorize/trainer_state.json")
    assert not at.exception, at.exception
    loss = next(s for s in chart_specs(at) if s["layout"]["title"]["text"] == "Loss")
    x = loss["data"][0]["x"]
    n = len(np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])) if isinstance(x, dict) else len(x)
    assert 1000 < n <= 2100  # 6,687 points reduced for the browser, not dropped to nothing


def test_without_a_run_in_the_url_the_demo_opens_on_the_run_with_the_most_severe_alerts():
    at = open_app()
    assert not at.exception, at.exception
    run, report = at.session_state["selected"]
    assert report.alerts  # a newcomer lands where the tool shows what it does
    # three critical loss spikes (and three grad-norm warnings): most critical alerts among the samples
    assert run.info.run_id == at.session_state["run"] == "nova-sft-datamix-high-lr/train.log"
    assert at.title[0].value == "nova-sft-datamix-high-lr/train.log"


def test_default_run_rule_most_severe_then_most_alerts_then_name():
    from types import SimpleNamespace

    from forge_monitor.alerts import Alert, CheckResult, Report, Status
    from forge_monitor.ui.data import Loaded

    def report(run_id, *severities):
        alerts = tuple(Alert(run_id, "loss_spike", s, "train_loss", i, i, "seen", "change") for i, s in enumerate(severities))
        return Report(run_id, (CheckResult("loss_spike", Status.ALERT if alerts else Status.OK, alerts),))

    def default(*reports):
        runs = [SimpleNamespace(info=SimpleNamespace(run_id=r.run_id)) for r in reports]
        return Loaded(runs, {r.run_id: r for r in reports}, [], []).default_run()

    assert default(report("a"), report("b", "warning", "warning"), report("c", "critical")) == "c"
    assert default(report("a", "critical"), report("b", "critical", "warning"), report("c", "critical")) == "b"
    assert default(report("b", "info"), report("a", "info")) == "a"
    assert default(report("b"), report("a")) == "a"  # nothing alerts anywhere: the first by name, as before
    assert Loaded([], {}, [], []).default_run() is None


def test_log_content_cannot_inject_markdown_or_html(tmp_path, monkeypatch):
    """Audit L1: names from a log reached st.markdown and plotly's legend as markup (an image beacon,
    a phishing link). They are shown as text."""
    import math

    beacon = "![beacon](beacon.png)"  # a folder name cannot hold the slashes of a full URL
    folder = tmp_path / f"run {beacon}"
    folder.mkdir()
    link = '<a href="http://127.0.0.1:9/legend">legend-link</a>'
    rows = [{"step": s, "loss": 2.0 / s if s != 40 else math.nan, link: 1.0} for s in range(1, 61)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("FORGE_MONITOR_ROOTS", str(tmp_path))
    at = open_app(source="folder", folder=str(tmp_path), run=f"run {beacon}/metrics.jsonl")
    assert not at.exception, at.exception
    shown = [e.value for kind in ("title", "markdown", "caption", "warning", "info") for e in at.get(kind)]
    assert any("beacon" in text for text in shown)  # the name is shown ...
    assert not any(beacon in text or "](" in text for text in shown)  # ... never as markdown
    names = [trace.get("name", "") for spec in chart_specs(at) for trace in spec["data"]]
    assert names and not any("<a href" in name for name in names)


def test_a_malformed_region_in_the_url_is_an_error_in_the_sidebar_not_a_traceback():
    """Audit M7: `?source=cloudwatch&job=x&region=us east 1` replaced the whole page with a traceback."""
    at = open_app(source="cloudwatch", job="x", region="us east 1")
    assert not at.exception, at.exception
    assert any("not an AWS region name" in e.value for e in at.sidebar.error)
