"""Regressions: stored baselines, the significance tests, bisect across releases."""
