"""forge-monitor dashboard entry point: page config, the shared sidebar, navigation.

Run with ``make demo`` (or ``streamlit run app.py``). Opens on the overview of every run in the source
(the bundled sample logs by default); a link that names a run (``?run=``, as the watcher's
notifications and shared links do) opens that run's page.
"""

import streamlit as st

from forge_monitor.ui import state
from forge_monitor.ui.sidebar import run_picker, source_picker

st.set_page_config(page_title="forge-monitor", layout="wide")

overview = st.Page("pages/overview.py", title="Overview", default=True, url_path="overview")
run_page = st.Page("pages/run.py", title="Run", url_path="run")
pages = [
    overview,
    run_page,
    st.Page("pages/compare.py", title="Compare", url_path="compare"),
    st.Page("pages/postmortem.py", title="Post-mortem", url_path="postmortem"),
    st.Page("pages/recipe.py", title="Recipe check", url_path="recipe"),
    st.Page("pages/detectors.py", title="Detector reference", url_path="detectors"),
]
first_visit = not st.session_state.get("_initialised")
state.keep_widget_values()
navigation = st.navigation(pages)
on_overview = navigation.url_path == overview.url_path
names_one = st.query_params.get("run") or (st.query_params.get("source") == "cloudwatch" and st.query_params.get("job")
                                           and st.query_params.get("jobs") != "all")
opened = st.query_params.get(state.OPEN_PAGE)
if opened is not None:
    # A page that was opened by its own address before any visit ran this script (state.through_the_app).
    del st.query_params[state.OPEN_PAGE]
    target = next((page for page in pages if page.url_path == opened), None)
    if target is not None and target is not overview:
        st.switch_page(target, query_params=st.query_params.to_dict())
if first_visit and on_overview and names_one:
    # A shared link to the root that names a run or one CloudWatch job (``/?run=…&step=…``,
    # ``/?source=cloudwatch&job=…``) opens that run, as it did before the overview became the landing page.
    st.switch_page(run_page, query_params=st.query_params.to_dict())
# The sidebar is shared by every page, so the source and the selected run survive page switches.
loaded = source_picker()
st.session_state["loaded"] = loaded
# The Recipe check and the Detector reference show no run: no run picker there (L7), the run kept.
st.session_state["selected"] = run_picker(loaded, in_url=not on_overview,
                                          show=navigation.url_path not in ("recipe", "detectors"))
if st.session_state.pop(state.RUN_PICKED, False) and on_overview:
    # A run picked in the sidebar is a run to look at. Switched after every sidebar widget was drawn:
    # a widget not drawn in the run that switches loses its value.
    st.switch_page(run_page)
navigation.run()
