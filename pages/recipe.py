"""Recipe page: paste or upload a recipe; see its pre-flight findings and the normalised view."""

import pandas as pd
import streamlit as st

from forge_monitor.recipes import RULES, RecipeError, lint, parse_recipe_text
from forge_monitor.ui.components import ICONS, plain
from forge_monitor.ui.data import PROJECT_ROOT
from forge_monitor.ui import state


def shown(value) -> str:
    """A value as the recipe would write it: 60 and 400 for whole numbers (the normaliser keeps floats)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)

state.through_the_app("recipe")
st.title("Recipe check")
st.caption("Paste or upload a Nova recipe YAML, serverless or DescribeTrainingJob hyperparameters, or "
           "TrainingArguments JSON. The checks follow the fine-tuning guidance: warmup, LR under data mixing, "
           "mix shares, CPT epochs and tokens per step, RFT batch semantics, reasoning mode, LoRA rank and alpha.")
EXAMPLE = PROJECT_ROOT / "sample_logs" / "nova-sft-datamix-high-lr" / "recipe.yaml"


def _take_upload():
    uploaded = st.session_state.get("recipe_upload")
    if uploaded is not None:
        st.session_state["recipe_text"] = uploaded.getvalue().decode("utf-8", "replace")


def _take_example():
    st.session_state["recipe_text"] = EXAMPLE.read_text(encoding="utf-8")


st.file_uploader("Recipe (YAML or JSON)", type=["yaml", "yml", "json"], key="recipe_upload", on_change=_take_upload)
st.button("Load an example recipe", key="recipe_example", on_click=_take_example,
          help="The bundled high-LR data-mixing SFT sample's recipe (sample_logs/nova-sft-datamix-high-lr)")
text = st.text_area("…or paste it here", height=260, key="recipe_text")
with st.expander("About the run (optional: enables more checks)"):
    columns = st.columns(3)
    inference = columns[0].selectbox("Reasoning at inference", ["not stated", "on", "off"], key="recipe_inference")
    baseline = columns[1].number_input("Baseline score (0-1)", min_value=0.0, max_value=1.0, value=None, key="recipe_baseline")
    tokens = columns[2].number_input("Dataset tokens", min_value=0.0, value=None, format="%.3g", key="recipe_tokens")
context = {k: v for k, v in {"inference_reasoning": {"on": True, "off": False}.get(inference), "baseline": baseline,
                             "dataset_tokens": tokens}.items() if v is not None}
if text.strip():
    try:
        findings, view = lint(parse_recipe_text(text, "the recipe"), context)
    except RecipeError as err:
        st.error(str(err))
        st.stop()
    columns = st.columns(4)
    columns[0].metric("Technique", view.technique.upper())
    columns[1].metric("Training mode", view.training_mode or "unknown")
    columns[2].metric("Platform", view.platform or "not stated")
    columns[3].metric("Findings", len(findings))
    st.subheader("Findings")
    if not findings:
        st.success("No findings: the recipe follows the guidance as far as it can be checked.")
    for finding in sorted(findings, key=lambda f: ("critical", "warning", "info").index(f.severity)):
        with st.container(border=True):
            st.markdown(f"{ICONS[finding.severity]} **{finding.rule}** · {finding.severity} · {plain(finding.field)}")
            st.markdown(plain(finding.message))
            st.info(plain(finding.remediation))
    if view.unknown_fields:
        st.caption("Fields not checked (unknown to the field map): " + ", ".join(plain(f) for f in view.unknown_fields))
    st.subheader("Normalised view")
    st.dataframe(pd.DataFrame([{"field": k, "value": shown(v)} for k, v in view.to_dict().items()
                               if v not in (None, [], {}) and k not in ("unknown_fields", "problems")]),
                 hide_index=True, key="recipe-view")
    with st.expander("All rules"):
        for rule, what in RULES.items():
            st.markdown(f"- `{rule}`: {what}")
