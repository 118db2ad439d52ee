"""Teardown analyzer: a packet capture -> one row per TCP connection + per-cell figures."""

from closebench.analysis.capture import AnalysisResult, analyze_capture
from closebench.analysis.outputs import write_outputs
from closebench.analysis.params import AnalysisParams

__all__ = ["AnalysisParams", "AnalysisResult", "analyze_capture", "write_outputs"]
