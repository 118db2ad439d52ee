"""A string column as integer codes into a small label table.

Why: the per-connection string columns (addresses, state, history, closer, close kind)
take a handful of distinct values. Built as object arrays they cost a Python string per
row and a hash per row to encode again for the DataFrame (pd.factorize on objects; the two
compared in docs/performance.md); codes are plain numpy all the way to the arrow `take`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Coded:
    codes: np.ndarray  # integer index into labels, one per row
    labels: np.ndarray  # object array of str

    def strings(self) -> np.ndarray:
        """The column as an object array (for row-wise checks and tests)."""
        return self.labels[self.codes]
