"""AppTest: the dashboard opens on the sample logs with no configuration and no network."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from conftest import PROJECT_ROOT


def test_app_lists_sample_runs_and_charts_the_selected_one():
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Training runs"
    table = at.dataframe[0].value
    assert "nova-sft-datamix-high-lr/train.log" in set(table["run"])
    at.selectbox(key="run").select("nova-sft-datamix-high-lr/train.log").run()
    assert not at.exception
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    titles = {spec["layout"]["title"]["text"] for spec in specs}
    assert {"train_loss", "grad_norm", "learning_rate"} <= titles
