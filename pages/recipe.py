"""Recipe page: paste or upload a Nova recipe; see what forge-monitor reads from it."""

import streamlit as st
import yaml

from forge_monitor.recipes import is_recipe, summarize_recipe

st.title("Recipe check")
st.caption("Paste or upload a Nova recipe YAML. The pre-flight checks against the fine-tuning guidance "
           "(warmup, LR under data mixing, epochs, batch size ...) arrive with the recipe issue; today this "
           "page shows what the monitor reads from the recipe.")
uploaded = st.file_uploader("Recipe YAML", type=["yaml", "yml"], key="recipe_upload")
text = st.text_area("…or paste it here", value=uploaded.getvalue().decode("utf-8", "replace") if uploaded else "",
                    height=260, key="recipe_text")
if text.strip():
    try:
        recipe = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        st.error(f"Invalid YAML{f' at line {mark.line + 1}, column {mark.column + 1}' if mark else ''}: "
                 f"{getattr(err, 'problem', err)}")
        st.stop()
    if not isinstance(recipe, dict) or not is_recipe(recipe):
        st.error("This is not a Nova recipe: expected a mapping with `run:` and/or `training_config:`.")
        st.stop()
    summary = summarize_recipe(recipe)
    columns = st.columns(3)
    columns[0].metric("Technique", summary["technique"].upper())
    columns[1].metric("Training mode", summary["training_mode"] or "unknown")
    columns[2].metric("Platform", summary["platform"] or "not stated")
    st.json(summary["hyperparameters"])
