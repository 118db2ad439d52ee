"""Teardown analyzer: a packet capture -> one row per TCP connection + per-cell figures."""

from closebench.teardown.analyze import AnalysisResult, analyze_capture
from closebench.teardown.outputs import write_outputs
from closebench.teardown.params import AnalysisParams

__all__ = ["AnalysisParams", "AnalysisResult", "analyze_capture", "write_outputs"]
