"""Recipe pre-flight checks: every rule fires on a crafted recipe, the published examples stay
(nearly) quiet, the sample recipes give what sample_logs/README.md promises, bad input is explained."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import SAMPLE_LOGS
from fixtures.published_recipes import NOVA2_SFT_NOVA_DATA, PUBLISHED
from forge_monitor.recipes import RULES, RecipeError, lint, parse_recipe_text, read_recipe
from forge_monitor.samples import SAMPLES
from forge_monitor.synth import recipes as templates


def rules(text_or_spec, context=None, at_least=("warning", "critical")) -> set[str]:
    spec = parse_recipe_text(text_or_spec) if isinstance(text_or_spec, str) else text_or_spec
    findings, _ = lint(spec, context)
    return {f.rule for f in findings if f.severity in at_least}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_examples_raise_no_critical_and_warn_only_on_placeholders(name):
    findings, view = lint(parse_recipe_text(PUBLISHED[name]))
    assert not [f for f in findings if f.severity == "critical"]
    warnings = [f for f in findings if f.severity == "warning"]
    if name == "nova2_cpt":  # 10 steps with 10 warmup steps: a placeholder that would be a mistake in a real run
        assert [f.rule for f in warnings] == ["warmup_fraction"]
        assert "10 warmup of 10 steps = 100 %" in warnings[0].message
    else:
        assert warnings == [], [f.message for f in warnings]


def test_published_shapes_normalise():
    _, sft = lint(parse_recipe_text(PUBLISHED["nova2_sft_lora"]))
    assert (sft.technique, sft.training_mode, sft.learning_rate, sft.warmup_steps, sft.lora_alpha) == ("sft", "lora", 1e-5, 15, 64)
    _, rft = lint(parse_recipe_text(PUBLISHED["nova2_rft_hyperpod"]))
    assert (rft.technique, rft.platform, rft.number_generation, rft.learning_rate) == ("rft", "hyperpod", 8, 7e-7)
    _, mtrl = lint(parse_recipe_text(PUBLISHED["mtrl"]))
    assert (mtrl.shape, mtrl.lora_rank, mtrl.number_generation) == ("mtrl", 32, 4)
    _, cpt = lint(parse_recipe_text(PUBLISHED["nova2_cpt"]))
    assert cpt.technique == "cpt" and cpt.global_batch_size * cpt.max_length == 256 * 8192


def _flat_mix(**overrides):
    spec = {"learning_rate": "1e-5", "max_steps": "312", "warmup_steps": "47", "customer_data_percent": "50",
            "nova_reasoning-instruction-following_percent": "60", "nova_code_percent": "40", "technique": "sft"}
    spec.update(overrides)
    return spec


CRAFTED = [
    ("warmup_fraction", templates.nova2_sft(name="x", max_steps=312, warmup=2), None),
    ("lr_off_default_with_mixing", templates.nova2_sft(name="x", max_steps=312, warmup=47, lr="3e-5", mixing_customer=50), None),
    ("customer_share", templates.nova2_sft(name="x", max_steps=312, warmup=47, mixing_customer=10), None),
    ("sft_mix_without_reasoning_if", _flat_mix(**{"nova_reasoning-instruction-following_percent": "0", "nova_code_percent": "100"}), None),
    ("mix_sum", _flat_mix(nova_code_percent="90"), None),  # Nova 150: the customer 50 is not part of the sum
    ("mix_sum", {"training_config": {"data_mixing": {"sources": {"customer_data": {"percent": 50},
                                                                  "nova_data": {"reasoning-instruction-following": {"percent": 40},
                                                                                "code": {"percent": 40}}}}}}, None),
    ("cpt_epochs", {"training_config": {"task_type": "cpt", "trainer": {"max_epochs": 3}}}, None),
    ("cpt_tokens_per_step", templates.nova2_cpt(name="x", max_steps=100, warmup=15, batch=32, max_length=8192), None),
    ("cpt_batch_power_of_two", templates.nova2_cpt(name="x", max_steps=100, warmup=15, batch=300, max_length=8192), None),
    ("rft_batch_semantics", {"training_config": {"rollout": {"advantage_strategy": {"number_generation": 1}}, "global_batch_size": 64}}, None),
    ("reasoning_mismatch", templates.nova2_sft(name="x", max_steps=312, warmup=47), {"inference_reasoning": False}),
    ("alpha_over_rank", {"learning_rate": 2e-4, "lora_r": 8, "lora_alpha": 64, "num_train_epochs": 1, "warmup_ratio": 0.15}, None),
    ("cpt_checkpoint_vs_data", {"run": {"model_name_or_path": "nova-lite-2/pretraining-text-RD"},
                                "training_config": {"task_type": "cpt"}}, {"dataset_tokens": 2e8}),
    ("rft_low_baseline", templates.nova2_rft_smtj(name="x", max_steps=100), {"baseline": 0.05}),
    ("invalid_value", {"training_config": {"optim_config": {"lr": "high"}}}, None),
    ("technique_unknown", {"learning_rate": "5e-5", "max_steps": "100", "warmup_steps": "15"}, None),
]


@pytest.mark.parametrize("rule,spec,context", CRAFTED, ids=[c[0] for c in CRAFTED])
def test_each_rule_fires_on_a_crafted_recipe(rule, spec, context):
    assert rule in RULES
    assert rule in rules(spec, context, at_least=("info", "warning", "critical"))


def test_every_rule_has_a_crafted_case():
    assert {c[0] for c in CRAFTED} == set(RULES)


def test_findings_carry_numbers_field_and_remediation():
    spec = parse_recipe_text(templates.nova2_sft(name="x", max_steps=400, warmup=60, lr="5e-5", mixing_customer=50))
    finding = next(f for f in lint(spec)[0] if f.rule == "lr_off_default_with_mixing")
    assert finding.severity == "critical" and finding.field == "learning_rate"
    assert "5e-05" in finding.message and "5x" in finding.message and "revert this first" in finding.remediation


def test_both_mixing_shapes_and_percent_strings():
    flat, _ = lint({"customer_data_percent": "50%", "nova_reasoning-instruction-following_percent": "100 %", "technique": "sft"})
    assert not [f for f in flat if f.rule in ("mix_sum", "invalid_value")]
    _, nested = lint({"training_config": {"data_mixing": {"sources": {"customer_data": {"percent": "50"},
                                                                      "nova_data": {"code": 60, "reasoning-instruction-following": 40}}}}})
    assert nested.nova_shares == {"code": 60.0, "reasoning-instruction-following": 40.0} and nested.customer_percent == 50


def test_unknown_fields_are_listed_not_fatal():
    findings, view = lint(parse_recipe_text(PUBLISHED["nova2_sft_lora"] + "my_extra_block:\n  foo: 1\n"))
    assert "my_extra_block.foo" in view.unknown_fields


@pytest.mark.parametrize("text,message", [
    ("run:\n  name: [unclosed\n", "invalid YAML at line 3, column 1"),
    ("- a\n- b\n", "must be a mapping of fields, got list"),
    ("", "empty file"),
    ("   \n", "empty file"),
])
def test_malformed_recipes_get_a_clear_message(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError, match=message.replace("(", r"\(")):
        read_recipe(path)
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "lint", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message.split(" at")[0] in done.stderr and "Traceback" not in done.stderr


def test_strings_where_numbers_are_expected():
    findings, view = lint({"training_config": {"max_steps": "a hundred", "global_batch_size": "32",
                                               "optim_config": {"lr": "1e-5"}}})
    assert view.global_batch_size == 32 and view.learning_rate == 1e-5 and view.max_steps is None
    assert any(f.rule == "invalid_value" and "a hundred" in f.message for f in findings)


def test_every_sample_recipe_gives_the_findings_its_readme_promises():
    readme = (SAMPLE_LOGS / "README.md").read_text()
    for sample in SAMPLES:
        for recipe in (SAMPLE_LOGS / sample.folder).glob("*.yaml"):
            got = rules(read_recipe(recipe))
            assert got == set(sample.expected_findings), (sample.folder, got)
        for rule in sample.expected_findings:
            assert f"`{rule}`" in readme


def test_lint_cli_json_contract(tmp_path):
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "lint", str(SAMPLE_LOGS / "nova-sft-datamix-high-lr" / "recipe.yaml"),
                           "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    payload = json.loads(done.stdout)
    assert set(payload) == {"findings", "recipe"}
    assert set(payload["findings"][0]) == {"rule", "severity", "field", "message", "remediation"}
    assert payload["recipe"]["learning_rate"] == 5e-5 and payload["recipe"]["data_mixing"] is True
    healthy = subprocess.run([sys.executable, "-m", "forge_monitor", "lint", str(SAMPLE_LOGS / "nova-sft-lora-healthy" / "recipe.yaml")],
                             capture_output=True, text=True, timeout=60)
    assert healthy.returncode == 0 and "no findings" in healthy.stdout


# --- data mixing: the Nova percentages are weights within the Nova share (formats.md 3.7) ----------------------------

def _serverless_mix(customer="50", scale=1.0, **extra):
    """Serverless flat hyperparameters (string values) with the published 23-category Nova mix."""
    spec = {"customer_data_percent": customer, "learning_rate": "1e-5", "max_steps": "312", "warmup_steps": "47"}
    spec.update({f"nova_{category}_percent": f"{share * scale:g}" for category, share in NOVA2_SFT_NOVA_DATA.items()})
    spec.update(extra)
    return spec


def _nested_mix(customer=50, nova=None, wrap_percent=False):
    nova = dict(NOVA2_SFT_NOVA_DATA) if nova is None else nova
    nova = {k: {"percent": v} for k, v in nova.items()} if wrap_percent else nova
    return {"training_config": {"max_steps": 312, "lr_scheduler": {"warmup_steps": 47}, "optim_config": {"lr": 1e-5},
                                "data_mixing": {"sources": {"customer_data": {"percent": customer}, "nova_data": nova}}}}


MIXES = [  # (id, spec, expected mix_sum severity or None, fragments of the message)
    ("flat customer 50 + Nova 100 is valid", _serverless_mix(), None, ()),
    ("nested customer 50 + Nova 100 is valid", _nested_mix(), None, ()),
    ("nested {percent: n} customer 50 + Nova 100 is valid", _nested_mix(wrap_percent=True), None, ()),
    ("flat Nova rounding within 0.5 is valid", _serverless_mix(**{"nova_code_percent": "9.7"}), None, ()),
    ("flat Nova sums to 150", _serverless_mix(scale=1.5), "critical", ("sum to 150", "within 0.5")),
    ("flat Nova sums to 50 (the old 'customer + Nova = 100' reading)", _serverless_mix(scale=0.5), "critical", ("sum to 50",)),
    ("flat Nova 100.6 is past the tolerance", _serverless_mix(**{"nova_code_percent": "10.6"}), "critical", ("sum to 100.6",)),
    ("nested Nova sums to 80", _nested_mix(nova={"reasoning-instruction-following": 40, "code": 40}), "critical", ("sum to 80",)),
    ("nested {percent: n} Nova sums to 80", _nested_mix(nova={"reasoning-instruction-following": 40, "code": 40}, wrap_percent=True),
     "critical", ("sum to 80",)),
    ("flat customer share above 100", _serverless_mix(customer="120"), "critical", ("120", "0-100")),
    ("nested customer share below 0", _nested_mix(customer=-5), "critical", ("-5", "0-100")),
    ("flat negative Nova share", _serverless_mix(**{"nova_code_percent": "-10", "nova_baseline_percent": "30"}), "critical", ("-10",)),
    ("customer 100 with Nova shares set", _serverless_mix(customer="100"), "warning", ("100 %", "no Nova data")),
    ("customer 100 with every Nova share 0", _serverless_mix(customer="100", scale=0), None, ()),
]


@pytest.mark.parametrize("spec,severity,fragments", [m[1:] for m in MIXES], ids=[m[0] for m in MIXES])
def test_mix_sum_reads_nova_shares_as_weights_within_the_nova_part(spec, severity, fragments):
    findings, view = lint(spec, None)
    mix = [f for f in findings if f.rule == "mix_sum"]
    assert [f.severity for f in mix] == ([severity] if severity else []), [f.message for f in mix]
    for fragment in fragments:
        assert fragment in mix[0].message, mix[0].message
    if mix:
        assert mix[0].remediation and "100" in mix[0].remediation
    assert not [f for f in findings if f.severity == "critical" and f.rule != "mix_sum"]


def test_mix_sum_message_gives_the_numbers_and_the_remedy():
    finding = next(f for f in lint(_serverless_mix(scale=1.5))[0] if f.rule == "mix_sum")
    assert finding.field == "nova_*_percent"
    assert "customer_data_percent 50" in finding.message  # the customer share is reported, not added in
    assert "customer_data_percent" in finding.remediation and "100/150" in finding.remediation
    nested = next(f for f in lint(_nested_mix(nova={"code": 60, "reasoning-instruction-following": 60}))[0] if f.rule == "mix_sum")
    assert nested.field == "data_mixing.sources.nova_data" and "sum to 120" in nested.message


# --- the technique of flat hyperparameters, stated or shown by the keys ----------------------------------------------

def test_flat_serverless_sft_mix_runs_the_lr_check_without_a_technique_key():
    spec = _serverless_mix(learning_rate="5e-5", max_context_length="32768", reasoning_enabled="true")
    findings, view = lint(spec)
    assert view.technique == "sft" and "customer_data_percent" in view.technique_source
    lr = [f for f in findings if f.rule == "lr_off_default_with_mixing"]
    assert [f.severity for f in lr] == ["critical"] and "5x above the 1e-05 default" in lr[0].message
    assert "technique_unknown" not in {f.rule for f in findings}


TECHNIQUES = [  # (id, spec, technique, training mode, words expected in technique_source)
    ("mix keys + max_context_length: SFT", {"max_context_length": "32768", "customer_data_percent": "50",
                                            "nova_reasoning-instruction-following_percent": "100"}, "sft", None, ("max_context_length",)),
    ("reasoning_enabled: SFT", {"learning_rate": "1e-5", "reasoning_enabled": "true"}, "sft", None, ("reasoning_enabled",)),
    ("adam_beta is the DPO beta", {"learning_rate": "5e-6", "adam_beta": "0.1", "max_context_length": "32768"}, "dpo", None, ("adam_beta",)),
    ("generations: RFT", {"learning_rate": "1e-5", "number_generation": "8", "max_length": "10240"}, "rft", None, ("number_generation",)),
    ("max_length with a reward Lambda: RFT", {"max_length": "10240", "reward_lambda_arn": "arn:aws:lambda:us-east-1:1:function:r"},
     "rft", None, ("reward_lambda_arn",)),
    ("max_length with reasoning_effort: RFT", {"max_length": "10240", "reasoning_effort": "high", "learning_rate": "1e-5"},
     "rft", None, ("reasoning_effort",)),
    ("CPT mix categories: CPT", {"customer_data_percent": "50", "nova_scientific_percent": "40", "nova_legal_percent": "60"},
     "cpt", None, ("nova_scientific_percent",)),
    ("ServerlessJobConfig RLVR + LORA", {"learning_rate": "1e-5", "ServerlessJobConfig": {"CustomizationTechnique": "RLVR", "Peft": "LORA"}},
     "rft", "lora", ("ServerlessJobConfig",)),
    ("DescribeTrainingJob response, SFT full rank", {"TrainingJobName": "j", "TrainingJobStatus": "Completed",
                                                     "HyperParameters": {"learning_rate": "1e-5", "max_steps": "100"},
                                                     "ServerlessJobConfig": {"JobType": "FineTuning", "CustomizationTechnique": "SFT"}},
     "sft", "full", ("ServerlessJobConfig",)),
    ("a stated technique wins", {"technique": "dpo", "max_context_length": "32768"}, "dpo", None, ("technique",)),
]


@pytest.mark.parametrize("spec,technique,mode,words", [t[1:] for t in TECHNIQUES], ids=[t[0] for t in TECHNIQUES])
def test_flat_hyperparameters_technique_from_the_keys(spec, technique, mode, words):
    findings, view = lint(spec)
    assert (view.technique, view.training_mode) == (technique, mode), view.technique_source
    for word in words:
        assert word in view.technique_source
    assert "technique_unknown" not in {f.rule for f in findings}


def test_describe_training_job_response_is_read_as_its_hyperparameters():
    spec = {"TrainingJobName": "j", "HyperParameters": _serverless_mix(learning_rate="5e-5"),
            "ServerlessJobConfig": {"CustomizationTechnique": "SFT", "Peft": "LORA", "BaseModelArn": "arn:x"}}
    findings, view = lint(spec)
    assert (view.technique, view.platform, view.learning_rate, view.customer_percent) == ("sft", "serverless", 5e-5, 50)
    assert "lr_off_default_with_mixing" in {f.rule for f in findings}
    assert view.unknown_fields == []


@pytest.mark.parametrize("spec,why,skipped", [
    ({"learning_rate": "5e-5", "max_length": "8192", "global_batch_size": "256"}, "max_length",
     ("cpt_tokens_per_step", "cpt_batch_power_of_two")),
    ({"learning_rate": "5e-5", "customer_data_percent": "50", "nova_code_percent": "100", "adam_beta": "0.1",
      "number_generation": "8"}, "adam_beta", ("lr_off_default_with_mixing",)),
    ({"learning_rate": "1e-5", "global_batch_size": "96", "max_epochs": "2"}, "no key", ("cpt_epochs", "cpt_batch_power_of_two")),
    ({"learning_rate": "1e-5", "technique": "grpo-ish"}, "grpo-ish", ("lr_off_default_with_mixing",)),
])
def test_unknown_technique_names_the_checks_that_could_not_run(spec, why, skipped):
    findings, view = lint(spec)
    assert view.technique == "unknown"
    unknown = [f for f in findings if f.rule == "technique_unknown"]
    assert [f.severity for f in unknown] == ["info"] and unknown[0].field == "technique"
    assert why in unknown[0].message
    for rule in skipped:
        assert rule in unknown[0].message
    assert "technique" in unknown[0].remediation and "ServerlessJobConfig" in unknown[0].remediation


def test_lint_cli_says_what_could_not_run_instead_of_no_findings(tmp_path):
    path = tmp_path / "hyperparameters.json"
    path.write_text(json.dumps({"learning_rate": "5e-5", "max_steps": "312", "warmup_steps": "47"}))
    text = subprocess.run([sys.executable, "-m", "forge_monitor", "lint", str(path)], capture_output=True, text=True, timeout=60)
    assert text.returncode == 0 and "no findings" not in text.stdout and "technique_unknown" in text.stdout
    done = subprocess.run([sys.executable, "-m", "forge_monitor", "lint", str(path), "--json"], capture_output=True, text=True, timeout=60)
    payload = json.loads(done.stdout)
    assert {"findings", "recipe"} <= set(payload)
    finding = next(f for f in payload["findings"] if f["rule"] == "technique_unknown")
    assert set(finding) == {"rule", "severity", "field", "message", "remediation"}
    assert payload["recipe"]["technique"] == "unknown" and payload["recipe"]["technique_source"]
