"""One typed view of a recipe, whatever shape it came in (reference/formats.md section 3).

Shapes: Nova recipe YAML (Nova 2 SFT / CPT / RFT on training jobs and HyperPod, Nova 1 SFT / DPO /
PPO / CPT, agentic RFT "MTRL"), serverless flat hyperparameters and DescribeTrainingJob
``HyperParameters`` (flat, values as strings; a whole DescribeTrainingJob or CreateTrainingJob body is
read as its ``HyperParameters`` plus its ``ServerlessJobConfig``), and HF ``TrainingArguments``-like
JSON. Numbers given as strings (``"1e-5"``, ``"50"``, ``"50%"``) are read as numbers; a value that is
not a number where one is expected is reported, not guessed. Keys the map does not know are listed,
never fatal.

Flat hyperparameters rarely name their technique: it is taken from a ``technique`` key, else from
``ServerlessJobConfig.CustomizationTechnique``, else from what the keys show (``_technique_from_keys``),
and ``technique_source`` says which, or why it stayed unknown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Every dotted path this module reads, so the rest can be listed as unknown.
_KNOWN_PREFIXES = (
    "run.", "training_config.", "ppo_", "data_mixing.", "forge_monitor.", "batch.", "rl.", "sampling_params.",
    "val_sampling_params.", "val_metrics_config.", "schedule.", "model.", "rollout.", "async_config.", "data_filter.",
)
_FLAT_KNOWN = {
    "learning_rate", "warmup_steps", "warmup_ratio", "min_lr", "max_steps", "max_epochs", "num_train_epochs",
    "global_batch_size", "per_device_train_batch_size", "gradient_accumulation_steps", "max_context_length",
    "max_length", "max_seq_length", "lora_alpha", "lora_r", "lora_rank", "r", "learning_rate_ratio",
    "reasoning_enabled", "reasoning_effort", "weight_decay", "save_steps", "val_check_interval", "fine_tuned_model",
    "customer_data_percent", "adam_beta", "lr_scheduler_type", "model_name_or_path", "peft", "peft_scheme",
    "technique", "platform", "number_generation", "num_generations", "beta", "kl_loss_coef", "output_dir",
    "logging_steps", "eval_steps", "bf16", "fp16", "seed", "max_grad_norm", "limit_val_batches", "max_new_tokens",
    "ServerlessJobConfig", "top_logprobs", "name",
}
TECHNIQUES = ("cpt", "sft", "dpo", "rft", "ppo")
# ServerlessJobConfig.CustomizationTechnique is SFT | DPO | RLVR | RLAIF (formats.md 1.4); RLVR / RLAIF are RFT.
_TECHNIQUE_NAMES = {"rlvr": "rft", "rlaif": "rft", "grpo": "rft"}
# What a flat key shows about the technique. The serverless map (formats.md 3.6, nova-forge-sdk
# _extract_hyperparameters) sends the recipe's max_length as max_context_length for SFT / DPO and as
# max_length for RFT (CPT recipes call it max_length too), reasoning_enabled only for Nova 2 SFT and the
# DPO beta as adam_beta; generation, reward and KL keys exist only in RFT recipes (3.3).
_KEY_SIGNS = {
    "adam_beta": {"dpo"}, "max_context_length": {"sft", "dpo"}, "reasoning_enabled": {"sft"},
    "number_generation": {"rft"}, "num_generations": {"rft"}, "max_new_tokens": {"rft"}, "reasoning_effort": {"rft"},
    "reward_lambda_arn": {"rft"}, "lambda_concurrency_limit": {"rft"}, "preset_reward_function": {"rft"},
    "kl_loss_coef": {"rft"}, "ent_coeff": {"rft"}, "clip_ratio_high": {"rft"}, "refit_freq": {"rft"}, "temperature": {"rft"},
    "customer_data_percent": {"sft", "cpt"},
}
_FLAT_ONLY_SIGNS = {"max_length": {"rft", "cpt"}}  # HF TrainingArguments-like JSON uses max_length for every trainer
# Data-mix categories: the CPT catalogue (cpt_text_lite, formats.md 3.7) shares only these four with the SFT catalogues.
_CPT_CATEGORIES = {"agents", "business-and-finance", "scientific", "code", "factual-and-news", "longform-text",
                   "health-and-medicine", "humanities-and-education", "legal", "math", "additional-languages",
                   "social-and-personal-interest", "entertainment", "reasoning", "other", "tables"}
_SHARED_CATEGORIES = {"agents", "code", "math", "reasoning"}
STAGES = {"pretraining-text-rd": "pre-trained", "pretraining-text-partial": "pre-trained",
          "pretraining-text-ce": "mid-trained", "pretraining-text-full": "mid-trained",
          "pretraining-mm-full": "mid-trained", "prod": "post-trained"}


@dataclass
class NormalizedRecipe:
    shape: str  # nova | nova_ppo | mtrl | flat | hf
    technique: str = "unknown"
    technique_source: str | None = None  # how the technique is known, or why it is unknown
    platform: str | None = None
    training_mode: str | None = None
    checkpoint: str | None = None
    checkpoint_stage: str | None = None  # pre-trained / mid-trained / post-trained / customer
    learning_rate: float | None = None
    warmup_steps: float | None = None
    warmup_ratio: float | None = None
    schedule: str | None = None
    min_lr: float | None = None
    max_steps: float | None = None
    max_epochs: float | None = None
    global_batch_size: float | None = None
    max_length: float | None = None
    lora_alpha: float | None = None
    lora_rank: float | None = None
    number_generation: float | None = None
    max_new_tokens: float | None = None
    kl_coef: float | None = None
    reasoning_enabled: bool | None = None
    reasoning_effort: str | None = None
    # Data mixing (formats.md 3.7), the same in both forms: customer_percent is the customer share of every
    # batch (0-100); nova_shares are weights within the Nova share and sum to 100 among themselves.
    customer_percent: float | None = None
    nova_shares: dict[str, float] | None = None  # category -> percent of the Nova share
    mix_form: str | None = None  # nested (data_mixing.sources...) / flat (customer_data_percent, nova_<c>_percent): field names only
    context: dict = field(default_factory=dict)  # user-stated: dataset_tokens, baseline, inference_reasoning
    unknown_fields: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # values that could not be read

    @property
    def data_mixing(self) -> bool:
        return self.customer_percent is not None or bool(self.nova_shares)

    @property
    def nova_total(self) -> float | None:
        """Sum of the Nova category percentages (100 in a valid mix), rounded off float noise."""
        return round(sum(self.nova_shares.values()), 6) if self.nova_shares else None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["data_mixing"] = self.data_mixing
        out["nova_total"] = self.nova_total
        return out


def _get(tree, dotted: str):
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _number(value, path: str, problems: list[str]):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        if text.lower() in ("", "null", "none"):
            return None
        try:
            return float(text)
        except ValueError:
            problems.append(f"{path}: {value!r} is not a number")
            return None
    problems.append(f"{path}: expected a number, got {type(value).__name__}")
    return None


def _bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return None


MAX_PATHS = 10_000  # field paths listed; a recipe has a few hundred
MAX_PATH_DEPTH = 100  # a mapping deeper than this is listed as one field


def _paths(tree, limit: int = MAX_PATHS) -> list[str]:
    """Dotted paths of the leaves of nested mappings, in order; past ``limit``, one "... more" entry.

    Iterative and bounded: the tree may be shared many times over (YAML aliases) or deeper than the
    interpreter's recursion limit (JSON hyperparameters), and only ``limit`` paths are ever built.
    """
    out: list[str] = []
    if not isinstance(tree, dict):
        return out
    stack = [(iter(tree.items()), "")]
    while stack:
        items, prefix = stack[-1]
        entry = next(items, None)
        if entry is None:
            stack.pop()
            continue
        key, value = entry
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and len(stack) < MAX_PATH_DEPTH:
            stack.append((iter(value.items()), path + "."))
            continue
        if len(out) == limit:
            out.append("... more fields, not listed")
            break
        out.append(path)
    return out


def _first(tree, paths):
    for path in paths:
        value = _get(tree, path)
        if value is not None:
            return value, path
    return None, paths[0]


def _stage(checkpoint: str | None) -> str | None:
    if not checkpoint:
        return None
    if checkpoint.startswith("s3://") or checkpoint.startswith("arn:"):
        return "customer"
    tail = checkpoint.rsplit("/", 1)[-1].lower()
    return STAGES.get(tail)


def normalize(spec: dict, context: dict | None = None) -> NormalizedRecipe:
    """Read any supported shape into a NormalizedRecipe. ``spec`` must be a mapping."""
    problems: list[str] = []
    num = lambda value, path: _number(value, path, problems)  # noqa: E731
    context = {**(spec.get("forge_monitor") or {} if isinstance(spec.get("forge_monitor"), dict) else {}), **(context or {})}
    if isinstance(spec.get("HyperParameters"), dict):  # a DescribeTrainingJob response (or CreateTrainingJob body)
        job = spec.get("ServerlessJobConfig")
        spec = {**spec["HyperParameters"], **({"ServerlessJobConfig": job} if isinstance(job, dict) else {})}
    if isinstance(spec.get("training_config"), dict) or isinstance(spec.get("run"), dict) or "ppo_actor_train" in spec:
        recipe = _nova(spec, num)
    elif isinstance(spec.get("schedule"), dict) and isinstance(spec.get("model"), dict):
        recipe = _mtrl(spec, num)
    elif any(k in spec for k in ("per_device_train_batch_size", "num_train_epochs", "warmup_ratio", "lora_r")):
        recipe = _flat(spec, num, shape="hf")
    else:
        recipe = _flat(spec, num, shape="flat")
    recipe.context = context
    recipe.problems = problems + recipe.problems
    recipe.checkpoint_stage = _stage(recipe.checkpoint)
    return recipe


def _nova(spec, num) -> NormalizedRecipe:
    tc = spec.get("training_config") if isinstance(spec.get("training_config"), dict) else {}
    run = spec.get("run") if isinstance(spec.get("run"), dict) else {}
    if "ppo_actor_train" in spec:
        recipe = NormalizedRecipe("nova_ppo", technique="ppo", technique_source="recipe layout: ppo_actor_train")
        actor = spec.get("ppo_actor_train") or {}
        recipe.max_steps = num(_get(actor, "max_steps"), "ppo_actor_train.max_steps")
        recipe.global_batch_size = num(_get(actor, "model.global_batch_size"), "ppo_actor_train.model.global_batch_size")
        recipe.kl_coef = num(_get(actor, "model.kl_loss_coeff"), "ppo_actor_train.model.kl_loss_coeff")
        recipe.learning_rate = num(_get(actor, "model.optim.lr"), "ppo_actor_train.model.optim.lr")
    else:
        if _get(tc, "model.dpo_cfg") is not None:
            technique, source = "dpo", "recipe layout: training_config.model.dpo_cfg"
        elif "rollout" in tc:
            technique, source = "rft", "recipe layout: training_config.rollout"
        elif str(tc.get("task_type", "")).lower() == "cpt" or "pretrain" in str(run.get("name", "")).lower():
            technique, source = "cpt", "recipe layout: task_type cpt or a pretrain run name"
        else:
            technique, source = "sft", "recipe layout: no dpo_cfg, rollout or CPT task"
        recipe = NormalizedRecipe("nova", technique=technique, technique_source=source)
        value, path = _first(tc, ["optim_config.lr", "optim.lr", "trainer.optim_config.lr", "model.optim.lr"])
        recipe.learning_rate = num(value, f"training_config.{path}")
        value, path = _first(tc, ["lr_scheduler.warmup_steps", "optim.sched.warmup_steps", "model.optim.sched.warmup_steps"])
        recipe.warmup_steps = num(value, f"training_config.{path}")
        value, path = _first(tc, ["lr_scheduler.min_lr", "optim.sched.min_lr", "model.optim.sched.min_lr"])
        recipe.min_lr = num(value, f"training_config.{path}")
        value, path = _first(tc, ["max_steps", "trainer.max_steps"])
        recipe.max_steps = num(value, f"training_config.{path}")
        value, path = _first(tc, ["trainer.max_epochs", "max_epochs"])
        recipe.max_epochs = num(value, f"training_config.{path}")
        recipe.global_batch_size = num(tc.get("global_batch_size"), "training_config.global_batch_size")
        recipe.max_length = num(tc.get("max_length"), "training_config.max_length")
        value, path = _first(tc, ["peft.lora_tuning.alpha", "trainer.peft.lora_tuning.alpha", "model.peft.lora_tuning.alpha"])
        recipe.lora_alpha = num(value, f"training_config.{path}")
        recipe.number_generation = num(_get(tc, "rollout.advantage_strategy.number_generation"),
                                       "training_config.rollout.advantage_strategy.number_generation")
        recipe.max_new_tokens = num(_get(tc, "rollout.generator.max_new_tokens"), "training_config.rollout.generator.max_new_tokens")
        recipe.kl_coef = num(_get(tc, "trainer.kl_loss_coef"), "training_config.trainer.kl_loss_coef")
        recipe.reasoning_enabled = _bool(tc.get("reasoning_enabled"))
        recipe.reasoning_effort = tc.get("reasoning_effort") if isinstance(tc.get("reasoning_effort"), str) else None
        peft, _ = _first(tc, ["peft.peft_scheme", "trainer.peft.peft_scheme", "model.peft.peft_scheme"])
        has_peft = any(_get(tc, p) is not None for p in ("peft", "trainer.peft", "model.peft"))
        recipe.training_mode = "lora" if str(peft).lower() == "lora" else ("full" if has_peft else None)
        if run.get("generation_replicas") is not None or run.get("rollout_worker_replicas") is not None:
            recipe.platform = "hyperpod"
        elif recipe.kl_coef is not None:
            recipe.platform = "smtj"
        mixing = tc.get("data_mixing") if isinstance(tc.get("data_mixing"), dict) else spec.get("data_mixing")
        if isinstance(mixing, dict):
            _mixing(recipe, mixing, num)
    recipe.checkpoint = run.get("model_name_or_path") if isinstance(run.get("model_name_or_path"), str) else None
    recipe.unknown_fields = [p for p in _paths(spec) if not p.startswith(_KNOWN_PREFIXES)]
    return recipe


def _mixing(recipe: NormalizedRecipe, mixing: dict, num) -> None:
    customer = _get(mixing, "sources.customer_data.percent")
    if customer is None:
        customer = _get(mixing, "sources.customer_data")
    recipe.customer_percent = num(customer, "data_mixing.sources.customer_data.percent")
    nova = _get(mixing, "sources.nova_data")
    if isinstance(nova, dict):
        shares = {}
        for category, value in nova.items():
            value = value.get("percent") if isinstance(value, dict) else value  # both published shapes
            share = num(value, f"data_mixing.sources.nova_data.{category}")
            if share is not None:
                shares[str(category)] = share
        recipe.nova_shares = shares
        recipe.mix_form = "nested"


def _mtrl(spec, num) -> NormalizedRecipe:
    recipe = NormalizedRecipe("mtrl", technique="rft", technique_source="recipe layout: agentic RFT (schedule, model)",
                              platform=None, training_mode="lora")
    recipe.max_steps = num(_get(spec, "schedule.max_steps"), "schedule.max_steps")
    recipe.max_epochs = num(_get(spec, "schedule.epochs"), "schedule.epochs")
    recipe.learning_rate = num(_get(spec, "model.learning_rate"), "model.learning_rate")
    recipe.lora_rank = num(_get(spec, "model.lora_rank"), "model.lora_rank")
    recipe.lora_alpha = num(_get(spec, "model.lora_alpha"), "model.lora_alpha")
    recipe.global_batch_size = num(_get(spec, "batch.training_batch_size"), "batch.training_batch_size")
    recipe.number_generation = num(_get(spec, "batch.group_size"), "batch.group_size")
    recipe.max_length = num(_get(spec, "model.max_sequence_length"), "model.max_sequence_length")
    recipe.checkpoint = _get(spec, "model.model_name") if isinstance(_get(spec, "model.model_name"), str) else None
    recipe.unknown_fields = [p for p in _paths(spec) if not p.startswith(_KNOWN_PREFIXES)]
    return recipe


def _flat(spec, num, *, shape: str) -> NormalizedRecipe:
    recipe = NormalizedRecipe(shape)
    job = spec.get("ServerlessJobConfig") if isinstance(spec.get("ServerlessJobConfig"), dict) else {}
    recipe.technique, recipe.technique_source = _flat_technique(spec, job, shape)
    recipe.platform = (spec.get("platform") if isinstance(spec.get("platform"), str)
                       else ("serverless" if shape == "flat" or job else None))
    recipe.learning_rate = num(spec.get("learning_rate"), "learning_rate")
    recipe.warmup_steps = num(spec.get("warmup_steps"), "warmup_steps")
    recipe.warmup_ratio = num(spec.get("warmup_ratio"), "warmup_ratio")
    recipe.min_lr = num(spec.get("min_lr"), "min_lr")
    recipe.schedule = spec.get("lr_scheduler_type") if isinstance(spec.get("lr_scheduler_type"), str) else None
    recipe.max_steps = num(spec.get("max_steps"), "max_steps")
    if recipe.max_steps is not None and recipe.max_steps <= 0:
        recipe.max_steps = None  # HF's -1: "use epochs"
    recipe.max_epochs = num(spec.get("max_epochs", spec.get("num_train_epochs")), "max_epochs")
    batch = num(spec.get("global_batch_size"), "global_batch_size")
    if batch is None and spec.get("per_device_train_batch_size") is not None:
        per = num(spec.get("per_device_train_batch_size"), "per_device_train_batch_size") or 0
        accumulation = num(spec.get("gradient_accumulation_steps", 1), "gradient_accumulation_steps") or 1
        batch = per * accumulation  # per device: the world size is not in TrainingArguments
    recipe.global_batch_size = batch
    recipe.max_length = num(spec.get("max_context_length", spec.get("max_length", spec.get("max_seq_length"))), "max_length")
    recipe.lora_alpha = num(spec.get("lora_alpha"), "lora_alpha")
    recipe.lora_rank = num(spec.get("lora_r", spec.get("lora_rank", spec.get("r"))), "lora_rank")
    recipe.number_generation = num(spec.get("number_generation", spec.get("num_generations")), "number_generation")
    recipe.max_new_tokens = num(spec.get("max_new_tokens"), "max_new_tokens")
    recipe.kl_coef = num(spec.get("kl_loss_coef", spec.get("beta") if recipe.technique == "rft" else None), "kl_loss_coef")
    recipe.reasoning_enabled = _bool(spec.get("reasoning_enabled"))
    recipe.checkpoint = spec.get("model_name_or_path") if isinstance(spec.get("model_name_or_path"), str) else None
    peft = spec.get("peft", spec.get("peft_scheme"))
    if job.get("CustomizationTechnique"):  # serverless fine-tuning: Peft is "LORA", or absent for full rank
        recipe.training_mode = "lora" if str(job.get("Peft", "")).upper() == "LORA" else "full"
    elif peft is not None:
        recipe.training_mode = "lora" if str(peft).lower() == "lora" else "full"
    elif recipe.lora_alpha is not None or recipe.lora_rank is not None:
        recipe.training_mode = "lora"
    nova = {k[len("nova_"):-len("_percent")]: v for k, v in spec.items()
            if isinstance(k, str) and k.startswith("nova_") and k.endswith("_percent")}
    if nova or spec.get("customer_data_percent") is not None:
        recipe.customer_percent = num(spec.get("customer_data_percent"), "customer_data_percent")
        recipe.nova_shares = {k: s for k, v in nova.items() if (s := num(v, f"nova_{k}_percent")) is not None}
        recipe.mix_form = "flat"
    known = _FLAT_KNOWN | set(_KEY_SIGNS) | {k for k in spec if isinstance(k, str) and k.startswith("nova_") and k.endswith("_percent")}
    recipe.unknown_fields = sorted(str(k) for k in spec if k not in known and k != "forge_monitor")
    return recipe


def _flat_technique(spec: dict, job: dict, shape: str) -> tuple[str, str]:
    """(technique, how it is known or why it is not) of flat hyperparameters."""
    stated = spec.get("technique")
    if stated is not None:
        name = _TECHNIQUE_NAMES.get(str(stated).lower(), str(stated).lower())
        if name in TECHNIQUES:
            return name, f"stated: technique={stated}"
        return "unknown", f"technique {stated!r} is not one of {', '.join(TECHNIQUES)}"
    serverless = job.get("CustomizationTechnique")
    if serverless:
        name = _TECHNIQUE_NAMES.get(str(serverless).lower(), str(serverless).lower())
        if name in TECHNIQUES:
            return name, f"ServerlessJobConfig.CustomizationTechnique={serverless}"
        return "unknown", f"ServerlessJobConfig.CustomizationTechnique {serverless!r} is not a known technique"
    return _technique_from_keys(spec, shape)


def _technique_from_keys(spec: dict, shape: str) -> tuple[str, str]:
    """The technique every key agrees on. Keys that fit SFT and DPO (max_context_length) or SFT and CPT
    (a mix without CPT-only categories) mean SFT: DPO hyperparameters always carry adam_beta and a CPT mix
    names CPT categories. Keys that disagree, or fit only RFT and CPT (max_length alone), leave it unknown."""
    signs = dict(_KEY_SIGNS, **(_FLAT_ONLY_SIGNS if shape == "flat" else {}))
    seen: dict[frozenset, list[str]] = {}
    for key in spec:
        if not isinstance(key, str):
            continue
        if key.startswith("nova_") and key.endswith("_percent"):
            category = key[len("nova_"):-len("_percent")]
            sign = ({"sft", "cpt"} if category in _SHARED_CATEGORIES
                    else {"cpt"} if category in _CPT_CATEGORIES else {"sft"})
        elif key in signs:
            sign = signs[key]
        else:
            continue
        seen.setdefault(frozenset(sign), []).append(key)
    if not seen:
        return "unknown", "no key shows the technique"

    def said(groups) -> str:
        return "; ".join(f"{', '.join(keys[:2])}{f' and {len(keys) - 2} more' if len(keys) > 2 else ''} "
                         f"({'/'.join(sorted(sign))})" for sign, keys in groups)

    fits = frozenset.intersection(*seen)
    if len(fits) == 1:
        return next(iter(fits)), f"inferred from {said(seen.items())}"
    if not fits:
        return "unknown", f"the keys disagree: {said(seen.items())}"
    if "sft" in fits and fits <= {"sft", "dpo", "cpt"}:
        return "sft", f"inferred from {said(seen.items())}; no adam_beta (DPO) or CPT-only mix category"
    return "unknown", f"the keys fit several techniques: {said(seen.items())}"
