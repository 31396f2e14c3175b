"""The only streamlit-importing package under forge_monitor/: caching and shared state for pages."""
