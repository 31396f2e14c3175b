"""Nova recipe YAML: just enough to fill ``RunInfo`` from a recipe next to a log.

The full normaliser and the pre-flight checks are the recipe issue's work; this module reads the
real recipe shapes of ``reference/formats.md`` section 3 and pulls out technique, training mode and
the hyperparameters the detectors' remediations talk about (LR, warmup, steps, epochs, batch,
LoRA alpha, KL coefficient, data mixing).
"""

from __future__ import annotations

from pathlib import Path

RECIPE_SUFFIXES = (".yaml", ".yml")


class RecipeError(ValueError):
    """A recipe that cannot be read; ``str()`` says where and why."""


def read_recipe(path: str | Path) -> dict:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RecipeError(f"{path}: {err.strerror}") from None
    try:
        recipe = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(f"{path}: invalid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(recipe, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping, got {type(recipe).__name__}")
    return recipe


def is_recipe(recipe: dict) -> bool:
    return isinstance(recipe.get("training_config"), dict) or isinstance(recipe.get("run"), dict)


def _get(tree: dict, dotted: str):
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _first(tree: dict, *paths: str):
    for path in paths:
        value = _get(tree, path)
        if value is not None:
            return value
    return None


def _number(value):
    """YAML 1.1 reads ``1e-5`` (no dot) as a string: recipes are full of those."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def summarize_recipe(recipe: dict) -> dict:
    """Technique, training mode, platform hint and normalised hyperparameters of a recipe."""
    tc = recipe.get("training_config") if isinstance(recipe.get("training_config"), dict) else {}
    run = recipe.get("run") if isinstance(recipe.get("run"), dict) else {}
    if "ppo_actor_train" in recipe:
        technique = "ppo"
    elif _get(tc, "model.dpo_cfg") is not None:
        technique = "dpo"
    elif "rollout" in tc:
        technique = "rft"
    elif str(tc.get("task_type", "")).lower() == "cpt":
        technique = "cpt"
    else:
        technique = "sft"
    peft = _first(tc, "peft.peft_scheme", "trainer.peft.peft_scheme", "model.peft.peft_scheme")
    has_peft_block = any(_get(tc, p) is not None for p in ("peft", "trainer.peft", "model.peft"))
    if peft is not None and str(peft).lower() == "lora":
        mode = "lora"
    elif has_peft_block:
        mode = "full"  # peft_scheme: null / "null"
    else:
        mode = None
    hp = {
        "model_name_or_path": run.get("model_name_or_path"),
        "learning_rate": _first(tc, "optim_config.lr", "optim.lr", "trainer.optim_config.lr", "model.optim.lr"),
        "warmup_steps": _first(tc, "lr_scheduler.warmup_steps", "optim.sched.warmup_steps", "model.optim.sched.warmup_steps"),
        "max_steps": _first(tc, "max_steps", "trainer.max_steps"),
        "max_epochs": _first(tc, "trainer.max_epochs", "max_epochs"),
        "global_batch_size": tc.get("global_batch_size"),
        "max_length": tc.get("max_length"),
        "lora_alpha": _first(tc, "peft.lora_tuning.alpha", "trainer.peft.lora_tuning.alpha", "model.peft.lora_tuning.alpha"),
        "kl_loss_coef": _first(tc, "trainer.kl_loss_coef"),
        "number_generation": _first(tc, "rollout.advantage_strategy.number_generation"),
        "max_new_tokens": _first(tc, "rollout.generator.max_new_tokens"),
        "reasoning_enabled": tc.get("reasoning_enabled"),
    }
    mixing = _get(tc, "data_mixing") or recipe.get("data_mixing")
    if isinstance(mixing, dict):
        customer = _get(mixing, "sources.customer_data.percent")
        hp["data_mixing"] = True
        hp["customer_data_percent"] = customer
    hp = {k: _number(v) for k, v in hp.items() if v is not None}
    platform = None
    if run.get("generation_replicas") is not None or run.get("rollout_worker_replicas") is not None:
        platform = "hyperpod"
    elif _get(tc, "trainer.kl_loss_coef") is not None:
        platform = "smtj"
    return {"technique": technique, "training_mode": mode, "platform": platform, "hyperparameters": hp}


def find_adjacent_recipe(directory: Path, stem: str | None = None) -> tuple[Path | None, list[str]]:
    """The recipe YAML next to a log, if any. Returns (path, warnings)."""
    candidates = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.suffix.lower() in RECIPE_SUFFIXES and path.is_file():
            try:
                if is_recipe(read_recipe(path)):
                    candidates.append(path)
            except RecipeError:
                continue
    if not candidates:
        return None, []
    if len(candidates) == 1:
        return candidates[0], []
    for path in candidates:
        if stem and path.stem == stem:
            return path, []
    names = ", ".join(p.name for p in candidates)
    return candidates[0], [f"several recipes next to the log ({names}); using {candidates[0].name}"]
