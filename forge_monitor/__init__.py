"""forge-monitor: a training-run monitor for LLM customization jobs.

Importing the package is cheap: streamlit, plotly and boto3 are imported only where used.
"""

__version__ = "0.1.0"
