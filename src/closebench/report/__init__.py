"""The comparison report: a papermill-executed notebook exported to self-contained HTML."""

from closebench.report.render import render_report

__all__ = ["render_report"]
