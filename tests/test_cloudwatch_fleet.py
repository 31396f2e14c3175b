"""Every training job of a region at once (the overview's CloudWatch source), against a real moto
server over HTTP, with every API call counted by a botocore ``before-call`` hook on the clients.

125 jobs (120 of a sweep, 5 others), 20 of them still training. moto marks every job ``Completed``;
a job still training is made ``InProgress`` in moto's in-process backend (see test_watch_cloudwatch).
"""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest

from forge_monitor.fleet import fleet_rows
from forge_monitor.ingest.cloudwatch import SMTJ_GROUP, CloudWatchSource
from forge_monitor.ingest.cloudwatch_fleet import CloudWatchFleet
from test_cloudwatch import NOW_MS, aws, create_job, moto_url, put_lines, sample_lines  # noqa: F401 - fixtures
from test_watch_cloudwatch import set_status

SWEEP, RUNNING, SPIKY = 120, 20, 7  # sweep-007 has the loss spikes


@pytest.fixture
def calls(aws):
    """Operation name -> calls made through the clients (the ground truth, whatever the code counts)."""
    counted: Counter = Counter()
    for client in aws.values():
        client.meta.events.register("before-call", lambda model, **_: counted.update([model.name]))
    return counted


def make_jobs(aws) -> None:
    healthy = sample_lines("nova-sft-lora-healthy")[:80]
    spiky = sample_lines("nova-sft-datamix-high-lr")
    for index in range(SWEEP + 5):
        name = f"sweep-{index:03d}" if index < SWEEP else f"other-{index}"
        create_job(aws["sagemaker"], name)
        set_status(name, "InProgress" if index < RUNNING else "Completed")
        put_lines(aws["logs"], SMTJ_GROUP, f"{name}/algo-1-1", spiky if index == SPIKY else healthy, start_ms=NOW_MS)


def test_a_fleet_of_125_jobs_costs_a_bounded_number_of_calls_per_refresh(aws, calls):
    make_jobs(aws)
    calls.clear()  # the set-up's own calls
    fleet = CloudWatchFleet(CloudWatchSource("", region="us-east-1"), prefix="sweep-", days=7, clients=dict(aws))

    changed = fleet.refresh()
    assert len(changed) == SWEEP and len(fleet.jobs) == SWEEP  # the prefix keeps the sweep only
    pages = math.ceil((SWEEP + 5) / 100)  # moto pages before it filters, as a 100-job page may hold others
    first = dict(calls)
    assert first["ListTrainingJobs"] == pages and first["DescribeTrainingJob"] == SWEEP
    assert first["DescribeLogStreams"] == SWEEP and first["GetLogEvents"] >= SWEEP
    print(f"first refresh of {SWEEP} jobs: {sum(first.values())} calls {first}")

    calls.clear()
    assert fleet.refresh() == []  # nothing new anywhere
    quiet = dict(calls)
    # Ended jobs read after they ended cost nothing; a job in progress costs one DescribeLogStreams.
    assert quiet == {"ListTrainingJobs": pages, "DescribeLogStreams": RUNNING}, quiet
    assert fleet.calls == sum(first.values()) + sum(quiet.values())  # the fleet's own count agrees
    print(f"quiet refresh: {sum(quiet.values())} calls {quiet}")

    # One running job logs more lines (a NaN): only its stream is read, only it is checked again.
    more = sample_lines("nova-sft-lora-healthy")[80:90]
    first = next(i for i, line in enumerate(more) if "reduced_train_loss=" in line)
    more[first] = re.sub(r"reduced_train_loss=[^,\]]+", "reduced_train_loss=nan", more[first])
    put_lines(aws["logs"], SMTJ_GROUP, "sweep-003/algo-1-2", more, start_ms=NOW_MS + 10_000)
    calls.clear()
    assert fleet.refresh() == ["sweep-003"]
    busy = dict(calls)
    assert busy["DescribeLogStreams"] == RUNNING and 1 <= busy["GetLogEvents"] <= 3, busy
    assert any(a.detector == "nonfinite" for a in fleet.jobs["sweep-003"].report.alerts)

    # A job that ends is read once more, then never again; a new job is picked up.
    set_status("sweep-004", "Completed")
    create_job(aws["sagemaker"], "sweep-new")
    set_status("sweep-new", "InProgress")
    put_lines(aws["logs"], SMTJ_GROUP, "sweep-new/algo-1-1", sample_lines("nova-cpt-healthy")[:30], start_ms=NOW_MS)
    assert sorted(fleet.refresh()) == ["sweep-004", "sweep-new"]  # an ended job's row changes too (its status)
    calls.clear()
    fleet.refresh()
    assert calls["DescribeLogStreams"] == RUNNING  # 19 of the first 20 still training, and the new one

    # The overview's rows: the job's status, the spiky job first.
    jobs = [j for j in fleet.jobs.values() if j.run is not None]
    rows = fleet_rows([j.run for j in jobs], {j.run.info.run_id: j.report for j in jobs})
    assert rows[0].run_id == f"sweep-{SPIKY:03d}" and rows[0].counts["critical"] >= 1
    statuses = {row.run_id: row.status for row in rows}
    # InProgress jobs whose newest line is months old (the samples' timestamps): the stalled detector holds.
    assert statuses["sweep-000"] == "stalled" and statuses["sweep-004"] == "finished" and statuses["sweep-100"] == "finished"


def test_a_stream_listed_as_quiet_is_still_read_every_recheck_interval(aws, calls):
    """lastIngestionTime is eventually consistent: it never keeps a stream unread for longer than
    ``recheck_every`` (0 here: every refresh reads every running stream)."""
    make_jobs(aws)
    fleet = CloudWatchFleet(CloudWatchSource("", region="us-east-1"), prefix="sweep-", days=7, clients=dict(aws))
    fleet.refresh()
    for job in fleet.jobs.values():
        job.run.live.recheck_every = 0.0
    calls.clear()
    fleet.refresh()
    assert calls["GetLogEvents"] == RUNNING and calls["DescribeLogStreams"] == RUNNING


def test_jobs_outside_the_window_or_without_logs_are_said_not_hidden(aws, calls):
    create_job(aws["sagemaker"], "sweep-nologs")
    set_status("sweep-nologs", "InProgress")
    fleet = CloudWatchFleet(CloudWatchSource("", region="us-east-1"), prefix="sweep-", days=7, clients=dict(aws))
    fleet.refresh()
    job = fleet.jobs["sweep-nologs"]
    assert job.run is None and "sweep-nologs" in job.error  # no log group or no stream yet: said, with the job
    put_lines(aws["logs"], SMTJ_GROUP, "sweep-nologs/algo-1-1", sample_lines("nova-cpt-healthy")[:30], start_ms=NOW_MS)
    assert fleet.refresh() == ["sweep-nologs"] and fleet.jobs["sweep-nologs"].run is not None  # its logs arrived


def test_the_overview_lists_every_training_job_of_the_region(aws):
    from streamlit.testing.v1 import AppTest

    from conftest import PROJECT_ROOT

    for index, (name, status) in enumerate([("ov-spiky", "InProgress"), ("ov-done", "Completed"), ("ov-failed", "Failed")]):
        create_job(aws["sagemaker"], name)
        set_status(name, status)
        folder = "nova-sft-datamix-high-lr" if name == "ov-spiky" else "nova-cpt-healthy"
        put_lines(aws["logs"], SMTJ_GROUP, f"{name}/algo-1-1", sample_lines(folder)[:200], start_ms=NOW_MS)
    create_job(aws["sagemaker"], "ov-starting")  # no logs yet: listed with the reason
    set_status("ov-starting", "InProgress")
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=90)
    at.query_params.update({"source": "cloudwatch", "jobs": "all", "prefix": "ov-", "region": "us-east-1"})
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Runs"
    table = at.dataframe[0].value
    status = dict(zip(table["Run"], table["Status"]))
    assert status["ov-done"] == "finished" and status["ov-failed"] == "failed" and status["ov-starting"] == "unreadable"
    assert table["Run"].iloc[0] == "ov-spiky" and table["critical"].iloc[0] >= 1  # worst first
    starting = table[table["Run"] == "ov-starting"].iloc[0]
    assert "no log streams" in starting["Worst alert"]


def test_every_job_of_a_hyperpod_cluster_is_read_in_one_pass_per_refresh(aws, calls):
    """101 jobs in one cluster's node streams: they are found by the ``[job]`` prefix of their lines,
    each read as the single-job source reads it, and a quiet refresh is one call for the cluster."""
    from forge_monitor.ingest.cloudwatch import open_cloudwatch
    from forge_monitor.ingest.cloudwatch_fleet import HyperPodFleet

    group = "/aws/sagemaker/Clusters/fleet-cluster/abc123"
    sample = sample_lines("nova-rft-hyperpod-kl-spike")  # every line starts with [rft-hp-lora]
    jobs = [f"hp-{i:03d}" for i in range(101)]
    for start in range(0, len(jobs), 10):
        stream_lines = []
        for name in jobs[start:start + 10]:
            lines = sample if name == "hp-007" else sample[:40]
            stream_lines += [line.replace("[rft-hp-lora]", f"[{name}]", 1) for line in lines]
        put_lines(aws["logs"], group, f"SagemakerHyperPodTrainingJob/rig/hyperpod-i-{start:04d}", stream_lines,
                  start_ms=NOW_MS)
    put_lines(aws["logs"], group, "SagemakerHyperPodTrainingJob/rig/hyperpod-i-other",
              ["[other-7] [2026-03-01 21:00:00,000] [INFO] Training epoch 0, iteration 1/9 | global_step: 1 | kl: 99"],
              start_ms=NOW_MS)
    calls.clear()
    source = CloudWatchSource("", platform="hyperpod", cluster="fleet-cluster", region="us-east-1")
    fleet = HyperPodFleet(source, prefix="hp-", days=7, clients=dict(aws))
    assert sorted(fleet.refresh()) == jobs  # other-7 is outside the prefix
    first = dict(calls)
    assert first["DescribeLogGroups"] == 1 and first["FilterLogEvents"] >= 1 and set(first) == {"DescribeLogGroups", "FilterLogEvents"}
    single = open_cloudwatch(CloudWatchSource("hp-007", platform="hyperpod", cluster="fleet-cluster", region="us-east-1"),
                             dict(aws))
    assert fleet.jobs["hp-007"].run.frame.drop(columns="run_id").equals(single.frame.drop(columns="run_id"))
    assert any(a.detector == "kl_spike" for a in fleet.jobs["hp-007"].report.alerts)

    calls.clear()
    assert fleet.refresh() == []
    assert dict(calls) == {"FilterLogEvents": 1}  # the whole cluster, quiet: one call
    last = sample[39].replace("[rft-hp-lora]", "[hp-050]", 1)
    step = int(re.search(r"global_step: (\d+)", last)[1])
    more = [line.replace("[rft-hp-lora]", "[hp-050]", 1) for line in sample[40:45]]
    put_lines(aws["logs"], group, "SagemakerHyperPodTrainingJob/rig/hyperpod-i-late", more, start_ms=NOW_MS + 600_000)
    calls.clear()
    assert fleet.refresh() == ["hp-050"] and dict(calls) == {"FilterLogEvents": 1}
    assert int(fleet.jobs["hp-050"].run.frame["step"].max()) > step


def test_the_overview_lists_every_job_of_a_hyperpod_cluster(aws):
    from streamlit.testing.v1 import AppTest

    from conftest import PROJECT_ROOT

    group = "/aws/sagemaker/Clusters/ui-cluster/abc123"
    sample = sample_lines("nova-rft-hyperpod-kl-spike")
    put_lines(aws["logs"], group, "SagemakerHyperPodTrainingJob/rig/hyperpod-i-0001",
              [line.replace("[rft-hp-lora]", "[uihp-spike]", 1) for line in sample]
              + [line.replace("[rft-hp-lora]", "[uihp-calm]", 1) for line in sample[:40]], start_ms=NOW_MS)
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=90)
    at.query_params.update({"source": "cloudwatch", "platform": "hyperpod", "cluster": "ui-cluster", "jobs": "all",
                            "prefix": "uihp-", "region": "us-east-1"})
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["Run"]) == ["uihp-spike", "uihp-calm"]  # the KL spike first
    assert table["warning"].iloc[0] >= 1 and "kl_spike" in table["Worst alert"].iloc[0]
