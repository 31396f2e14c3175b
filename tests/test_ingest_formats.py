"""Every local format, written into tmp_path and read back through the public API."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

from forge_monitor.ingest import FormatError, load_paths, open_run, parse_definitions, sniff
from forge_monitor.ingest.discover import RunSpec
from forge_monitor.schema import validate_frame
from forge_monitor.synth import writers

# Verbatim lines from reference/formats.md 2.2 (AWS SDK test fixtures).
NOVA_PROGRESS = (
    "[my-full-rank-sft-1] [2025-12-17 04:54:49,774] [INFO] Epoch 1: : 1it [00:04,  4.36s/it, v_num=d3c7, "
    "reduced_train_loss=0.674, global_step=1.000, consumed_samples=128.0, train_step_timing in s=3.370, "
    "batch_time=4.400, samples/sec=14.60]\n"
    "[2026-03-01 21:16:40,581] [INFO] #015Epoch 1: : 3it [00:32, 10.68s/it, v_num=1feb, reduced_train_loss=2.66e-5, "
    "global_step=6.000, consumed_samples=448.0, train_step_timing in s=10.10, batch_time=10.80, samples/sec=5.920]{\n"
    '"timestamp": "2026-03-01 21:16:40",\n"epoch": 1,"stepId": 2,\n"stepType": "TRAIN","totalProcessedTokenCount": 3402\n}\n'
)
NOVA_PIPE_CPT = (
    "[my-cpt-2] [2025-12-18 02:45:53,585] [INFO] Training epoch 0, iteration 9/9 | lr: 9.091e-06 | dl_wait_time: "
    "0.0002742 | padding_percentage: 0.8996 | global_step: 9 | token_count: 20971520 | reduced_train_loss: 10.54 | "
    "training_loss_step: 10.54 | grad_norm: 161.8 | train_step_timing in s: 59.7 | batch_time: 59.71 | "
    "samples/sec: 4.287 | avg_samples/sec: nan | peak_samples/sec: 4.288\n"
)
NOVA_PIPE_RFT = (
    "[my-lora-rft] [2026-03-08 22:40:07,102] [INFO] Training epoch 0, iteration 119/999 | lr: 7e-07 | "
    "global_batch_size: 256 | global_step: 119 | reduced_train_loss: 0.007075 | prompt_length: 7.26e+03 | "
    "completion_length: 635.2 | global_seq_length: 7.895e+03 | adv: 0.02718 | reasoning_length_size: 0 | "
    "train_rm_score: 0.6797 | kl: 0.0008378 | ent: 0.1944 | clipfrac: 0.004458 | train_step_timing in s: 1.232e+03 | "
    "consumed_samples: 30720\n"
)
VERL = (
    "[2026-02-13 15:15:07,022] [INFO] \x1b[36m(TaskRunner pid=12647)\x1b[0m step:295 - global_seqlen/min:2087 - "
    "actor/entropy:2.542900800704956 - actor/pg_loss:0.0 - actor/grad_norm:0.3703329265117645 - actor/lr:1e-05 - "
    "training/global_step:295 - training/epoch:5 - critic/rewards/mean:0.8313651084899902 - "
    "response_length/mean:4.76171875 - response_length/clip_ratio:0.0 - perf/throughput:38.81311253930573\n"
)


def _value(frame, metric, step):
    hit = frame[(frame.metric == metric) & (frame.step == step)]
    assert len(hit) == 1, f"{metric}@{step}: {len(hit)} rows"
    return float(hit.value.iloc[0])


def _read(path):
    result = load_paths([str(path)])
    assert not result.errors, result.errors
    assert len(result.runs) == 1
    run = result.runs[0]
    validate_frame(run.frame)
    return run


CASES = [
    # file name, content, format, {(metric, step): value}
    ("sft.log", NOVA_PROGRESS, "nova_progress",
     {("train_loss", 1): 0.674, ("train_loss", 6): 2.66e-5, ("step_time", 6): 10.10, ("throughput", 1): 14.60}),
    ("cpt.log", NOVA_PIPE_CPT, "nova_pipe",
     {("train_loss", 9): 10.54, ("grad_norm", 9): 161.8, ("learning_rate", 9): 9.091e-06, ("token_count", 9): 20971520}),
    ("rft.log", NOVA_PIPE_RFT, "nova_pipe",
     {("reward", 119): 0.6797, ("kl", 119): 0.0008378, ("entropy", 119): 0.1944, ("clip_fraction", 119): 0.004458,
      ("response_length", 119): 635.2}),
    ("verl.log", VERL, "verl",
     {("entropy", 295): 2.542900800704956, ("reward", 295): 0.8313651084899902, ("learning_rate", 295): 1e-05,
      ("truncated_ratio", 295): 0.0, ("epoch", 295): 5.0, ("policy_loss", 295): 0.0}),
    ("console.log", "noise\n{'loss': 0.6623, 'learning_rate': 0.0001768, 'epoch': 0.24}\n 24%|██▍  | 2565/10485\n"
     "{'loss': '4.265', 'grad_norm': 'nan', 'epoch': '0.24'}\n{'eval_loss': 0.91, 'eval_accuracy': 0.5, 'epoch': 0.24}\n",
     "hf_console", {("train_loss", 1): 0.6623, ("train_loss", 2): 4.265, ("val_loss", 2): 0.91, ("eval:accuracy", 2): 0.5}),
    ("trainer_log.jsonl", '{"current_steps": 10, "total_steps": 30, "loss": 2.2, "lr": 1e-6, "epoch": 0.1, "elapsed_time": "0:00:32"}\n'
     '{"current_steps": 20, "total_steps": 30, "eval_loss": 1.6, "epoch": 0.2}\n', "llamafactory_jsonl",
     {("train_loss", 10): 2.2, ("learning_rate", 10): 1e-6, ("val_loss", 20): 1.6}),
    ("metrics.jsonl", '{"step": 1, "train/loss": 3.0, "eval/accuracy": 0.1}\n{"step": 2, "train/loss": 2.5}\n', "jsonl",
     {("train_loss", 1): 3.0, ("train_loss", 2): 2.5, ("eval:accuracy", 1): 0.1}),
    ("metrics.csv", "step,loss,learning_rate,note\n1,3.0,1e-5,warm\n2,2.5,,x\n", "csv",
     {("train_loss", 2): 2.5, ("learning_rate", 1): 1e-5}),
]


@pytest.mark.parametrize("name,content,fmt,expected", CASES, ids=[c[2] + ":" + c[0] for c in CASES])
def test_format_is_detected_by_content_and_parsed(tmp_path, name, content, fmt, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert sniff(path, path.read_bytes()) == fmt
    run = _read(path)
    assert run.info.format == fmt
    for (metric, step), value in expected.items():
        assert _value(run.frame, metric, step) == pytest.approx(value, rel=1e-9)


def test_detection_does_not_trust_the_extension(tmp_path):
    path = tmp_path / "metrics.csv"  # a verl log saved with the wrong extension
    path.write_text(VERL)
    assert _read(path).info.format == "verl"


def test_nan_values_are_kept_as_evidence(tmp_path):
    path = tmp_path / "cpt.log"
    path.write_text(NOVA_PIPE_CPT)
    assert math.isnan(_value(_read(path).frame, "avg_samples/sec", 9))


def test_wall_time_comes_from_the_line_timestamp(tmp_path):
    path = tmp_path / "cpt.log"
    path.write_text(NOVA_PIPE_CPT)
    frame = _read(path).frame
    wall = frame[frame.metric == "train_loss"].wall_time.iloc[0]
    assert wall == pytest.approx(1766025953.585)  # 2025-12-18 02:45:53.585 UTC


def test_hyperpod_prefix_sets_the_platform(tmp_path):
    path = tmp_path / "rft.log"
    path.write_text(NOVA_PIPE_RFT)
    run = _read(path)
    assert run.info.platform == "hyperpod"
    assert run.info.technique == "rft"


def test_trainer_state_rows_and_infinity(tmp_path):
    state = writers.trainer_state(
        [(1, {"loss": 2.0, "grad_norm": float("inf"), "learning_rate": 1e-5, "epoch": 0.1}),
         (2, {"loss": float("nan"), "grad_norm": 1.0, "epoch": 0.2}),
         (2, {"eval_loss": 1.5, "eval_accuracy": 0.7, "eval_runtime": 3.0, "epoch": 0.2})],
        header={"max_steps": 2, "num_train_epochs": 1, "global_step": 2},
        summary={"epoch": 0.2, "step": 2, "train_loss": 1.9, "train_runtime": 10.0},
    )
    assert "Infinity" in state and "NaN" in state
    path = tmp_path / "trainer_state.json"
    path.write_text(state)
    run = _read(path)
    frame = run.frame
    assert math.isinf(_value(frame, "grad_norm", 1))
    assert math.isnan(_value(frame, "train_loss", 2))  # the summary's train_loss (1.9) is not a point
    assert _value(frame, "val_loss", 2) == 1.5
    assert _value(frame, "eval:accuracy", 2) == 0.7
    assert _value(frame, "eval_runtime", 2) == 3.0  # timing is not an eval metric
    assert run.info.final_metrics["train_loss"] == 1.9
    assert run.info.hyperparameters["max_steps"] == 2


def test_truncated_trainer_state_keeps_the_entries_that_parse(tmp_path):
    full = writers.trainer_state([(s, {"loss": 1.0 / s, "epoch": s / 10}) for s in range(1, 11)], header={"max_steps": 10})
    path = tmp_path / "trainer_state.json"
    path.write_text(full[: full.index('"step": 8') - 40])  # cut mid-entry, as a crashed writer leaves it
    run = _read(path)
    steps = sorted(run.frame[run.frame.metric == "train_loss"].step)
    assert steps[:7] == [1, 2, 3, 4, 5, 6, 7]
    assert any("not valid JSON" in w for w in run.info.warnings)


def test_bedrock_training_and_validation_csv_are_one_run(tmp_path):
    job = tmp_path / "model-customization-job-x"
    (job / "training_artifacts").mkdir(parents=True)
    (job / "training_artifacts" / "step_wise_training_metrics.csv").write_text(
        "step_number,epoch_number,training_loss,perplexity\n0,0,2.5,12.18\n1,0,2.1,8.17\n")
    val_dir = job / "validation_artifacts" / "post_fine_tuning_validation" / "validation"
    val_dir.mkdir(parents=True)
    (val_dir / "validation_metrics.csv").write_text("step_number,epoch_number,validation_loss,perplexity\n1,0,2.2,9.0\n")
    result = load_paths([str(tmp_path)])
    assert len(result.runs) == 1
    run = result.runs[0]
    assert run.info.run_id == "model-customization-job-x"
    assert run.info.format == "bedrock_csv"
    assert _value(run.frame, "train_loss", 0) == 2.5
    assert _value(run.frame, "val_loss", 1) == 2.2
    assert _value(run.frame, "eval:perplexity", 1) == 9.0
    assert _value(run.frame, "perplexity", 1) == 8.17


def _tfrecord(payload: bytes) -> bytes:
    """TFRecord framing with its checksums, as every writer produces it (the reader checks the length's)."""
    from tensorboardX.record_writer import masked_crc32c

    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked_crc32c(header)) + payload + struct.pack("<I", masked_crc32c(payload))


def test_tensorboard_both_scalar_encodings_and_every_point(tmp_path):
    from tensorboardX import SummaryWriter
    from tensorboardX.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2

    logdir = tmp_path / "runs" / "exp1"
    writer = SummaryWriter(str(logdir))
    for step in range(1, 12001):  # more than EventAccumulator's default 10,000 per tag
        writer.add_scalar("train/loss", 2.0 + (5.0 if step == 7777 else 0.0), step)
    writer.close()
    # A TF2-style file: scalars stored as tensors with the "scalars" plugin.
    records = b""
    for step in range(1, 4):
        tensor = tensor_pb2.TensorProto(dtype=1, tensor_shape=tensor_shape_pb2.TensorShapeProto(), float_val=[0.5 * step])
        meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
        value = summary_pb2.Summary.Value(tag="eval/accuracy", tensor=tensor, metadata=meta)
        event = event_pb2.Event(wall_time=1.7e9 + step, step=step * 100, summary=summary_pb2.Summary(value=[value]))
        records += _tfrecord(event.SerializeToString())
    (logdir / "events.out.tfevents.2.tf2").write_bytes(records)
    result = load_paths([str(tmp_path)])
    assert len(result.runs) == 1
    run = result.runs[0]
    assert run.info.run_id == "runs/exp1" and run.info.format == "tensorboard"
    loss = run.frame[run.frame.metric == "train_loss"]
    assert len(loss) == 12000
    assert loss.value.max() == 7.0 and int(loss.step[loss.value.idxmax()]) == 7777  # the spike survived
    assert _value(run.frame, "eval:accuracy", 300) == 1.5


def test_metric_definitions_parse_any_text_log(tmp_path):
    path = tmp_path / "main.log"
    path.write_text("s:0 tel:11.0095\ns:0 trl:11.0116 lr:0.000001 norm:14.96\ns:1 trl:10.9586 lr:0.000002 norm:15.18\n"
                    "val loss nan\ns:2 trl:nan lr:0.000003 norm:14.49\n")
    with pytest.raises(FormatError, match="supply metric definitions"):
        sniff(path, path.read_bytes())
    definitions = parse_definitions({
        "StepRegex": r"^s:(\d+)",
        "MetricDefinitions": [{"Name": "train_loss", "Regex": r"trl:([0-9.eE+-]+|nan)"},
                              {"Name": "val_loss", "Regex": r"(?:tel:|val loss )([0-9.eE+-]+|nan)"},
                              {"Name": "grad_norm", "Regex": r"norm:([0-9.eE+-]+|nan)"}],
    })
    result = load_paths([str(path)], definitions=definitions)
    frame = result.runs[0].frame
    assert result.runs[0].info.format == "metric_definitions"
    assert _value(frame, "val_loss", 0) == 11.0095
    assert math.isnan(_value(frame, "val_loss", 1))  # "val loss nan" takes the last step seen
    assert math.isnan(_value(frame, "train_loss", 2))


@pytest.mark.parametrize("spec,message", [
    ([{"Name": "x"}], "needs 'Name' and 'Regex'"),
    ([{"Name": "x", "Regex": "("}], "invalid regex"),
    ([{"Name": "x", "Regex": "loss"}], "capturing group"),
    ([], "non-empty list"),
])
def test_bad_metric_definitions_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_definitions(spec)


def test_adjacent_recipe_fills_run_info(tmp_path):
    from forge_monitor.synth import recipes

    (tmp_path / "train.log").write_text(NOVA_PIPE_CPT)
    (tmp_path / "recipe.yaml").write_text(recipes.nova2_sft(name="x", max_steps=9, warmup=2, lr="5e-5", mixing_customer=50))
    run = open_run(RunSpec("x", [[tmp_path / "train.log"]], tmp_path / "train.log"))
    assert run.info.technique == "sft" and run.info.training_mode == "lora"
    assert run.info.hyperparameters["learning_rate"] == 5e-5  # YAML's "5e-5" string read as a number
    assert run.info.hyperparameters["data_mixing"] is True
    assert run.info.recipe_path.endswith("recipe.yaml")


def test_frame_contract_types(tmp_path):
    path = tmp_path / "verl.log"
    path.write_text(VERL)
    frame = _read(path).frame
    assert list(frame.columns) == ["run_id", "step", "metric", "value", "wall_time"]
    assert frame.step.dtype == np.int64 and frame.value.dtype == np.float64 and frame.wall_time.dtype == np.float64
    assert json.loads(frame.to_json(orient="records"))  # serialisable


def test_jsonl_key_first_seen_late_is_not_dropped(tmp_path):
    rows = [{"step": s, "loss": 1.0 / s} for s in range(1, 501)]
    rows[450]["eval_loss"] = 0.42  # far past any reader's schema-inference window
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame = _read(path).frame
    assert _value(frame, "val_loss", 451) == 0.42
    assert len(frame[frame.metric == "train_loss"]) == 500


# Newer verl prints numpy scalars by their repr (numpy 2); torch scalars print as tensors.
VERL_NUMPY_REPRS = (
    "[2026-02-13 15:15:07,022] [INFO] \x1b[36m(TaskRunner pid=12647)\x1b[0m step:3 - actor/pg_loss:np.float64(-0.0044) - "
    "actor/grad_norm:np.float32(0.37) - actor/lr:1e-05 - actor/pg_clipfrac:tensor(0.01, device='cuda:0') - "
    "actor/ppo_kl:np.float64(nan) - training/global_step:np.int64(3) - response_length/mean:numpy.int64(412) - "
    "critic/rewards/mean:0.83 - actor/entropy:1.2.3 - actor/mode:train\n"
)


def test_verl_numpy_and_tensor_reprs_are_read_and_an_unreadable_value_is_explained(tmp_path):
    path = tmp_path / "verl.log"
    path.write_text(VERL_NUMPY_REPRS)
    run = _read(path)
    frame = run.frame
    assert _value(frame, "policy_loss", 3) == -0.0044
    assert _value(frame, "grad_norm", 3) == pytest.approx(0.37)
    assert _value(frame, "clip_fraction", 3) == 0.01
    assert math.isnan(_value(frame, "approx_kl", 3))
    assert _value(frame, "response_length", 3) == 412
    assert _value(frame, "reward", 3) == 0.83
    # A number-like value that cannot be read is counted and named, never dropped silently; a word
    # (actor/mode:train) is not a number and passes quietly.
    assert run.info.lines_skipped == 1
    (skipped,) = run.info.skipped
    assert skipped.line == 1 and "actor/entropy" in skipped.reason and "1.2.3" in skipped.reason
    assert "actor/mode" not in skipped.reason


def test_hf_console_numpy_and_tensor_reprs(tmp_path):
    path = tmp_path / "stdout.log"
    path.write_text("{'loss': np.float64(0.66), 'grad_norm': tensor(1.5, device='cuda:0'), 'epoch': np.float32(0.1)}\n"
                    "{'loss': np.float64(nan), 'epoch': 0.2}\n")
    run = _read(path)
    assert _value(run.frame, "train_loss", 1) == 0.66 and _value(run.frame, "grad_norm", 1) == 1.5
    assert math.isnan(_value(run.frame, "train_loss", 2))
    assert run.info.lines_skipped == 0


# A tqdm bar with the next logger record glued to the same physical line (real HyperPod SFT log).
GLUED_RECORD = (
    "[my-full-rank-sft-1] [2025-12-17 04:54:49,774] [INFO] Epoch 1: : 1it [00:04,  4.36s/it, v_num=d3c7, "
    "reduced_train_loss=0.674, global_step=1.000, consumed_samples=128.0, train_step_timing in s=3.370, "
    "batch_time=4.400, samples/sec=14.60]     2025-12-17 04:54:49,774 [INFO] - nlp_overrides.py:552 - "
    "Time elapsed dumping optimizer_states: 3.2\n"
)


@pytest.mark.parametrize("content", [
    GLUED_RECORD,
    "[2025-12-15 22:39:23,107] [INFO] Training epoch 0, iteration 1/9 | lr: 1e-06 | global_step: 1 | "
    "reduced_train_loss: 0.674 | consumed_samples: 128     2025-12-15 22:39:23,107 [INFO] - nlp_overrides.py:552 - "
    "elapsed: 3.2\n",
    "[2026-02-13 15:15:07,022] [INFO] (TaskRunner pid=1) step:1 - critic/rewards/mean:0.674 - "
    "perf/throughput:38.8 - nlp_overrides.py:552 - elapsed: 3.2\n",
], ids=["progress_bar", "pipe", "verl"])
def test_only_the_metric_section_of_a_line_is_parsed(tmp_path, content):
    path = tmp_path / "train.log"
    path.write_text(content)
    run = _read(path)
    metrics = set(run.frame.metric.astype(str))
    assert not {m for m in metrics if ".py" in m or "elapsed" in m.lower() or "Time" in m}, metrics
    assert metrics & {"train_loss", "reward"}
    assert run.info.lines_skipped == 0


def _tb_file(folder, n=200):
    from tensorboardX import SummaryWriter

    with SummaryWriter(str(folder)) as writer:
        for i in range(1, n + 1):
            writer.add_scalar("train/loss", 1.0 / i, i)
    (path,) = folder.glob("events.out.tfevents.*")
    return path


def test_corrupt_tensorboard_record_is_reported_with_what_was_lost(tmp_path):
    """Audit M3: a damaged length field used to end the read silently (steps 99-200 gone, no word)."""
    path = _tb_file(tmp_path / "run")
    data = bytearray(path.read_bytes())
    pos = 0
    for _ in range(99):  # the file-version record, then 98 scalars
        pos += 12 + struct.unpack_from("<Q", data, pos)[0] + 4
    struct.pack_into("<Q", data, pos, struct.unpack_from("<Q", data, pos)[0] + 3)
    path.write_bytes(bytes(data))
    run = _read(tmp_path / "run")
    assert run.frame.step.max() == 98
    (note,) = [w for w in run.info.warnings if "corrupt event record" in w]
    assert f"at byte {pos}" in note and f"{len(data) - pos:,} bytes unread" in note


def test_random_bytes_named_like_an_event_file_are_no_run(tmp_path):
    path = tmp_path / "events.out.tfevents.1700000000.host"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    result = load_paths([str(path)])
    assert not result.runs and "not a TensorBoard event file" in result.errors[0].reason


def test_an_event_file_still_being_written_is_not_corrupt(tmp_path):
    path = _tb_file(tmp_path / "run", n=50)
    data = path.read_bytes()
    cut = tmp_path / "live" / path.name
    cut.parent.mkdir()
    cut.write_bytes(data[:-7])  # the last record half written
    run = _read(cut.parent)
    assert run.frame.step.max() == 49 and not [w for w in run.info.warnings if "corrupt" in w]


def test_a_nova_step_beyond_int64_is_a_skipped_line(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(f"Training epoch 0, iteration {i}/3 | global_step: {s} | reduced_train_loss: 0.{i}\n"
                            for i, s in ((1, "1"), (2, "1e30"), (3, "3"))))
    run = _read(path)
    assert sorted(run.frame.step.unique()) == [1, 3]
    (skipped,) = run.info.skipped
    assert skipped.line == 2 and skipped.reason == "step value is out of range"
