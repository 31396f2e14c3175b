"""Recipes and hyperparameters: reading every shape, and the pre-flight checks.

``normalize`` reads every published shape into one typed view; ``check_recipe`` runs the pre-flight
checks against the guidance; ``summarize_recipe`` is what ingestion puts in ``RunInfo``.
"""

from __future__ import annotations

from pathlib import Path

from .checks import RULES, Finding, check_recipe, explanations
from .normalize import NormalizedRecipe, normalize

RECIPE_SUFFIXES = (".yaml", ".yml")
__all__ = ["RULES", "Finding", "NormalizedRecipe", "RecipeError", "check_recipe", "explanations", "find_adjacent_recipe",
           "is_recipe", "lint", "normalize", "parse_recipe_text", "read_recipe", "summarize_recipe"]


class RecipeError(ValueError):
    """A recipe that cannot be read; ``str()`` says where and why."""


def parse_recipe_text(text: str, name: str = "recipe") -> dict:
    """YAML (or JSON) text -> mapping. Raises RecipeError with the line and column of a syntax error,
    or the reason text was refused unread (over 1 MB, nested too deep, aliases expanding too far)."""
    import yaml

    from .safe_yaml import load_text

    if not text.strip():
        raise RecipeError(f"{name}: empty file")
    try:
        recipe = load_text(text, name)
    except ValueError as err:
        raise RecipeError(str(err)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        context = getattr(err, "context_mark", None)
        if context is not None and mark is not None and context.line != mark.line:
            # libyaml notices an unclosed bracket at the end of the text: say where it was opened too.
            where += f" ({getattr(err, 'context', None) or 'started'} at line {context.line + 1}, column {context.column + 1})"
        raise RecipeError(f"{name}: invalid YAML{where}: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(recipe, dict):
        raise RecipeError(f"{name}: a recipe must be a mapping of fields, got {type(recipe).__name__}")
    return recipe


def read_recipe(path: str | Path) -> dict:
    """A recipe file: only a regular file, and at most 1 MB of it."""
    from .safe_yaml import read_bounded

    path = Path(path)
    try:
        text = read_bounded(path, str(path)).decode("utf-8")
    except OSError as err:
        raise RecipeError(f"{path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise RecipeError(f"{path}: not a text file") from None
    except ValueError as err:
        raise RecipeError(str(err)) from None
    return parse_recipe_text(text, str(path))


def is_recipe(recipe: dict) -> bool:
    return isinstance(recipe.get("training_config"), dict) or isinstance(recipe.get("run"), dict)


def summarize_recipe(recipe: dict) -> dict:
    """Technique, training mode, platform hint and hyperparameters of a recipe, for RunInfo."""
    view = normalize(recipe)
    hp = {
        "model_name_or_path": view.checkpoint, "learning_rate": view.learning_rate, "warmup_steps": view.warmup_steps,
        "max_steps": view.max_steps, "max_epochs": view.max_epochs, "global_batch_size": view.global_batch_size,
        "max_length": view.max_length, "lora_alpha": view.lora_alpha, "lora_rank": view.lora_rank,
        "kl_loss_coef": view.kl_coef, "number_generation": view.number_generation,
        "max_new_tokens": view.max_new_tokens, "reasoning_enabled": view.reasoning_enabled,
    }
    if view.data_mixing:
        hp["data_mixing"] = True
        hp["customer_data_percent"] = view.customer_percent
    hp = {k: (int(v) if isinstance(v, float) and v.is_integer() and k not in ("learning_rate",) else v)
          for k, v in hp.items() if v is not None}
    return {"technique": view.technique, "training_mode": view.training_mode, "platform": view.platform,
            "hyperparameters": hp}


def lint(spec: dict, context: dict | None = None) -> tuple[list[Finding], NormalizedRecipe]:
    """The pre-flight checks of one recipe (any supported shape)."""
    view = normalize(spec, context)
    return check_recipe(view), view


def find_adjacent_recipe(directory: Path, stem: str | None = None) -> tuple[Path | None, dict | None, list[str]]:
    """The recipe YAML next to a log, if any. Returns (path, the parsed recipe, warnings)."""
    candidates: list[tuple[Path, dict]] = []
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.suffix.lower() in RECIPE_SUFFIXES and path.is_file():
            try:
                recipe = read_recipe(path)
            except RecipeError:
                continue
            if is_recipe(recipe):
                candidates.append((path, recipe))
    if not candidates:
        return None, None, []
    chosen = next((c for c in candidates if stem and c[0].stem == stem), candidates[0])
    warnings = []
    if len(candidates) > 1 and chosen[0].stem != stem:
        names = ", ".join(p.name for p, _ in candidates)
        warnings.append(f"several recipes next to the log ({names}); using {chosen[0].name}")
    return chosen[0], chosen[1], warnings
