"""Pre-flight checks of a normalised recipe against the fine-tuning guidance (reference/guidance.md).

Each check has a stable id, a severity, the field it is about, a message with the numbers, and a
remediation. Thresholds that the guidance does not state exactly are marked as this project's
choice in the rule's docstring line below.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .normalize import NormalizedRecipe

DEFAULT_LR = {"sft": 1e-5, "cpt": 1e-5, "dpo": 1e-5, "rft": 1e-5, "rft_hyperpod": 7e-7}
LR_OFF_DEFAULT = 1.5  # an LR this many times above or below the service default counts as "off the default"
REASONING_IF = "reasoning-instruction-following"


def lr_vs_default(lr, technique: str, platform: str | None) -> tuple[float, float] | None:
    """(ratio >= 1, service default) for an LR of this technique and platform; None when unknown."""
    default = DEFAULT_LR.get("rft_hyperpod" if technique == "rft" and platform == "hyperpod" else technique)
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0 or default is None:
        return None
    return max(lr / default, default / lr), default

# rule id -> one line: what it checks (the detector-reference page and the docs reuse this)
RULES = {
    "warmup_fraction": "warmup far from ~15 % of the steps (warning outside 5-30 %, info outside 10-20 %)",
    "lr_off_default_with_mixing": "LR away from the technique's service default while data mixing is on (>= 1.5x; critical >= 3x)",
    "customer_share": "customer share of the mix far from ~50 % (warning outside 20-80 %, info outside 35-65 %)",
    "sft_mix_without_reasoning_if": "an SFT Nova mix without reasoning-instruction-following",
    "mix_sum": "data-mix percentages out of range: Nova category weights not summing to 100 (within 0.5), a customer share outside 0-100",
    "cpt_epochs": "more than one CPT epoch",
    "cpt_tokens_per_step": "CPT tokens per step outside 2-20 M",
    "cpt_batch_power_of_two": "a CPT batch size that is not a power of two",
    "rft_batch_semantics": "RFT samples per step on training jobs vs HyperPod (shown), fewer than 2 generations",
    "reasoning_mismatch": "reasoning mode differing between training and the stated inference setting",
    "alpha_over_rank": "LoRA alpha raised well above rank (> 2x info, >= 4x warning)",
    "cpt_checkpoint_vs_data": "pre-trained CPT checkpoint with a small dataset (< 1 B tokens), or post-trained with a very large one (> 10 B)",
    "rft_low_baseline": "RFT straight from a base checkpoint with a low reported baseline (< 20 %)",
    "invalid_value": "a value that is not a number where one is expected",
    "technique_unknown": "technique neither stated nor shown by the keys: names the technique-specific checks that could not run (info)",
}

MIX_TOLERANCE = 0.5  # percentage points: published mixes give categories to 0.1, so their sums round
# Rules that run only for a known technique, and whether the recipe holds the inputs each one reads.
TECHNIQUE_RULES = {
    "lr_off_default_with_mixing": lambda r: r.learning_rate is not None and r.data_mixing,
    "sft_mix_without_reasoning_if": lambda r: bool(r.nova_shares),
    "cpt_epochs": lambda r: r.max_epochs is not None,
    "cpt_tokens_per_step": lambda r: bool(r.global_batch_size and r.max_length),
    "cpt_batch_power_of_two": lambda r: bool(r.global_batch_size),
    "cpt_checkpoint_vs_data": lambda r: "dataset_tokens" in r.context,
    "rft_batch_semantics": lambda r: r.number_generation is not None,
    "rft_low_baseline": lambda r: "baseline" in r.context,
}


# Which alerts a recipe finding can explain: the run page shows the finding beside those alerts.
EXPLAINS = {"lr_off_default_with_mixing": {"loss_spike", "grad_norm_spike", "nonfinite", "forgetting"},
            "warmup_fraction": {"loss_spike", "grad_norm_spike", "nonfinite"},
            "cpt_epochs": {"overfitting", "forgetting"}, "customer_share": {"forgetting", "loss_spike"},
            "sft_mix_without_reasoning_if": {"forgetting"}, "rft_batch_semantics": {"reward_plateau"},
            "rft_low_baseline": {"reward_plateau"}, "alpha_over_rank": {"forgetting", "loss_plateau"}}


def explanations(findings: list["Finding"], detector: str) -> list[str]:
    """Recipe findings that may explain an alert of ``detector``, as sentences for the run page."""
    out = []
    for finding in findings:
        if detector in EXPLAINS.get(finding.rule, ()):
            first = " - the first thing to revert" if finding.rule == "lr_off_default_with_mixing" else ""
            out.append(f"Recipe: {finding.message}{first}. {finding.remediation}")
    return out


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # info / warning / critical
    field: str
    message: str
    remediation: str

    def to_dict(self) -> dict:
        return asdict(self)


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _check_mix(recipe: NormalizedRecipe, add) -> None:
    """The data mix (formats.md 3.7): the customer share of each batch is 0-100; the Nova categories are
    weights within the rest and sum to 100 among themselves (with 100 % customer data, to 0)."""
    flat = recipe.mix_form == "flat"
    customer_field = "customer_data_percent" if flat else "data_mixing.sources.customer_data.percent"
    nova_field, nova_values = (("nova_*_percent", "nova_<category>_percent") if flat
                               else ("data_mixing.sources.nova_data", "nova_data"))
    customer, total = recipe.customer_percent, recipe.nova_total
    if customer is not None and not 0 <= customer <= 100:
        add("mix_sum", "critical", customer_field,
            f"{customer_field} is {customer:g}: the customer share of each batch must be within 0-100",
            f"Set {customer_field} between 0 and 100 (about 50 suits most uses); the Nova percentages split the "
            "rest of the batch and sum to 100 on their own.")
    negative = {k: v for k, v in (recipe.nova_shares or {}).items() if v < 0}
    if negative:
        shown = ", ".join(f"{f'nova_{k}_percent' if flat else k} {v:g}" for k, v in negative.items())
        add("mix_sum", "critical", nova_field, f"Nova category percentages below 0: {shown}",
            f"Give every {nova_values} value 0-100, the values together summing to 100.")
    if total is None or (customer is not None and not 0 <= customer <= 100):
        return
    if customer == 100:
        if total > 0:
            add("mix_sum", "warning", nova_field,
                f"customer data is 100 % of each batch (no Nova data), yet the Nova percentages sum to {total:g}",
                f"With customer data at 100 set every {nova_values} value to 0 (the Forge SDK rejects anything else), "
                f"or lower {customer_field} to mix Nova data in.")
        return
    if abs(total - 100) > MIX_TOLERANCE:
        rest = f", the {100 - customer:g} % of each batch left by {customer_field} {customer:g}" if customer is not None else ""
        scale = f"multiply each by 100/{total:g}" if total > 0 else "give the categories you want shares"
        add("mix_sum", "critical", nova_field,
            f"Nova category percentages sum to {total:g}, not 100 (within {MIX_TOLERANCE:g}); they are weights "
            f"within the Nova share{rest}",
            f"Make the {nova_values} values sum to 100 ({scale}); {customer_field} sets the customer share on "
            "its own and is not part of that sum.")


def check_recipe(recipe: NormalizedRecipe) -> list[Finding]:
    found: list[Finding] = []
    add = lambda *args: found.append(Finding(*args))  # noqa: E731

    for problem in recipe.problems:
        add("invalid_value", "warning", problem.split(":")[0], problem, "Give this field a number (e.g. 1e-5, 50).")

    steps, warmup = recipe.max_steps, recipe.warmup_steps
    fraction = warmup / steps if steps and warmup is not None else recipe.warmup_ratio
    if fraction is not None:
        where = "warmup_steps" if warmup is not None else "warmup_ratio"
        numbers = f"{warmup:g} warmup of {steps:g} steps" if warmup is not None and steps else f"warmup ratio {fraction:g}"
        target = f" (~{round(0.15 * steps):d} steps)" if steps else ""
        if not 0.05 <= fraction <= 0.30:
            add("warmup_fraction", "warning", where, f"{numbers} = {_pct(fraction)}; about 15 % is recommended",
                f"Set warmup to about 15 % of the steps{target}: 312 steps -> 47, 624 -> 94."
                + (" Warmup as long as the run never reaches the peak LR." if fraction >= 1 else ""))
        elif not 0.10 <= fraction <= 0.20:
            add("warmup_fraction", "info", where, f"{numbers} = {_pct(fraction)}; about 15 % is recommended",
                f"Consider warmup of about 15 % of the steps{target}.")

    compared = lr_vs_default(recipe.learning_rate, recipe.technique, recipe.platform)
    if recipe.data_mixing and compared:
        ratio, default = compared
        if ratio >= LR_OFF_DEFAULT:
            add("lr_off_default_with_mixing", "critical" if ratio >= 3 else "warning", "learning_rate",
                f"learning rate {recipe.learning_rate:g} is {ratio:.3g}x {'above' if recipe.learning_rate > default else 'below'} "
                f"the {default:g} default while data mixing is on",
                f"Use the service default {default:g}: deviating from the default LR under data mixing is the most "
                "common cause of instability (loss spikes, capability collapse). If the run is unstable, revert this first.")

    if recipe.technique == "unknown":
        ready = [rule for rule, has_inputs in TECHNIQUE_RULES.items() if has_inputs(recipe)]
        skipped = ", ".join(ready or TECHNIQUE_RULES)
        add("technique_unknown", "info", "technique",
            f"technique unknown: {recipe.technique_source or 'not stated'}. These checks did not run: {skipped}",
            "State the technique: add technique: sft, dpo, rft or cpt to the hyperparameters, or lint the whole "
            "DescribeTrainingJob response, whose ServerlessJobConfig.CustomizationTechnique names it.")

    _check_mix(recipe, add)
    if recipe.customer_percent is not None and 0 <= recipe.customer_percent <= 100:
        share = recipe.customer_percent
        if not 20 <= share <= 80:
            add("customer_share", "warning", "customer_data_percent", f"customer data is {share:g} % of the mix; about 50 % suits most uses",
                "Start near 50 % customer data; tune by holding the domain data fixed and varying the Nova share.")
        elif not 35 <= share <= 65:
            add("customer_share", "info", "customer_data_percent", f"customer data is {share:g} % of the mix; about 50 % suits most uses",
                "About 50 % customer data is the usual starting point.")
    if recipe.nova_shares is not None and recipe.technique == "sft" and recipe.nova_shares:
        if recipe.nova_shares.get(REASONING_IF, 0) <= 0:
            add("sft_mix_without_reasoning_if", "warning", f"nova_data.{REASONING_IF}",
                f"the SFT Nova mix has no {REASONING_IF} ({len(recipe.nova_shares)} categories)",
                f"Always include {REASONING_IF} in an SFT mix: leaving it out is a common cause of degraded reasoning.")

    if recipe.technique == "cpt":
        if recipe.max_epochs is not None and recipe.max_epochs > 1:
            add("cpt_epochs", "warning", "max_epochs", f"CPT runs {recipe.max_epochs:g} epochs",
                "Run CPT for at most one epoch: repeating limited CPT data overfits and loses general capability; "
                "watch validation loss.")
        if recipe.global_batch_size and recipe.max_length:
            tokens = recipe.global_batch_size * recipe.max_length
            if not 2e6 <= tokens <= 20e6:
                ideal = 2 ** round(math.log2(max(4e6 / recipe.max_length, 1)))
                add("cpt_tokens_per_step", "warning", "global_batch_size",
                    f"{recipe.global_batch_size:g} x {recipe.max_length:g} = {tokens / 1e6:.2f} M tokens per step; 2-20 M is the target",
                    f"Aim for 2 M (small budgets) to 20 M (large) tokens per step: e.g. {ideal:d} x {recipe.max_length:g} "
                    f"= {ideal * recipe.max_length / 1e6:.1f} M.")
        batch = recipe.global_batch_size
        if batch and float(batch).is_integer() and int(batch) & (int(batch) - 1):
            nearest = 2 ** round(math.log2(recipe.global_batch_size))
            add("cpt_batch_power_of_two", "info", "global_batch_size",
                f"global_batch_size {recipe.global_batch_size:g} is not a power of two",
                f"Use the power of two nearest to tokens per step / max length (here {nearest:d}).")
        stage, tokens = recipe.checkpoint_stage, recipe.context.get("dataset_tokens")
        if isinstance(tokens, (int, float)):
            if stage == "pre-trained" and tokens < 1e9:
                add("cpt_checkpoint_vs_data", "warning", "run.model_name_or_path",
                    f"a pre-trained checkpoint with {tokens / 1e9:.2g} B tokens of data",
                    "Earlier checkpoints suit large-scale domain adaptation; with a small dataset start from the "
                    "post-trained checkpoint (keeps alignment), or mid-trained.")
            if stage == "post-trained" and tokens > 10e9:
                add("cpt_checkpoint_vs_data", "info", "run.model_name_or_path",
                    f"the post-trained checkpoint with {tokens / 1e9:.3g} B tokens of data",
                    "For large-scale domain adaptation a pre-trained or mid-trained checkpoint is more flexible "
                    "(it needs SFT afterwards to restore instruction following).")

    if recipe.technique == "rft":
        generations = recipe.number_generation
        batch = recipe.global_batch_size
        if generations is not None and generations < 2:
            add("rft_batch_semantics", "critical", "rollout.advantage_strategy.number_generation",
                f"{generations:g} generation per prompt: group advantages need at least 2 to compare",
                "Generate at least 2 candidates per prompt (8 is the HyperPod guidance).")
        if generations and batch:
            if recipe.platform == "hyperpod":
                text = (f"HyperPod: global_batch_size {batch:g} counts samples: {batch / generations:g} prompts x "
                        f"{generations:g} generations per step")
            else:
                text = (f"training jobs: global_batch_size {batch:g} counts prompts: {batch * generations:g} samples per "
                        f"step ({generations:g} generations each)")
            add("rft_batch_semantics", "info", "global_batch_size", text,
                "Batch semantics differ by platform: on training jobs it counts prompts, on HyperPod total samples. "
                "Translate carefully when moving a recipe.")
        baseline = recipe.context.get("baseline")
        if isinstance(baseline, (int, float)) and recipe.checkpoint_stage in ("post-trained", "pre-trained", "mid-trained"):
            share = baseline / 100 if baseline > 1 else baseline
            if share < 0.2:
                add("rft_low_baseline", "warning", "run.model_name_or_path",
                    f"RFT from the base checkpoint {recipe.checkpoint} with a reported baseline of {_pct(share)}",
                    "RFT refines behaviour the model can already partly show; at a low baseline there is little to "
                    "reinforce. Run SFT first, then RFT from the SFT checkpoint.")

    stated = recipe.context.get("inference_reasoning")
    if isinstance(stated, bool) and recipe.reasoning_enabled is not None and stated != recipe.reasoning_enabled:
        add("reasoning_mismatch", "warning", "training_config.reasoning_enabled",
            f"trained with reasoning_enabled={recipe.reasoning_enabled}, inference stated as "
            f"reasoning {'on' if stated else 'off'}",
            "Use the same reasoning mode for training and inference; otherwise inference behaviour differs from training.")

    if recipe.lora_alpha and recipe.lora_rank:
        ratio = recipe.lora_alpha / recipe.lora_rank
        if ratio > 2:
            add("alpha_over_rank", "warning" if ratio >= 4 else "info", "lora_alpha",
                f"LoRA alpha {recipe.lora_alpha:g} is {ratio:.3g}x the rank {recipe.lora_rank:g}",
                "For low-baseline tasks raising the rank is higher-leverage than raising alpha (published sweep: rank 64 "
                "beat alpha 128 and cost less general capability); raise alpha only when LoRA under-adapts.")
    return found
