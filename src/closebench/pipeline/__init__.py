"""The run: a matrix of cells measured in sandboxes, analysed, and recorded in a run directory."""
