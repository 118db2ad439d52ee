"""The speed-ups' fallbacks give the same connections as their fast paths.

Hash-table slot lookup vs the exact dict (after a hash collision), the history byte matrix
vs per-connection decoding of long rows, radix orders vs numpy's stable argsort, and the
compact part storage vs the frame it rebuilds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from closebench.teardown import analyze_capture, tracker
from closebench.teardown.benchmark import write_synthetic_pcap
from closebench.teardown.classify import _narrow
from closebench.teardown.params import AnalysisParams
from closebench.teardown.tracker import Tracker, _stable_order

# Small chunks: connections span chunks and 4-tuples come back (port reuse) across them.
PARAMS = AnalysisParams(chunk_packets=1000)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fast") / "synthetic.pcap"
    write_synthetic_pcap(path, 30_000)  # > 28000 ports: 4-tuples are reused
    return path


@pytest.fixture(scope="module")
def reference(capture: Path) -> pd.DataFrame:
    return analyze_capture(capture, params=PARAMS).connections


def test_exact_slot_fallback_matches(
    capture: Path, reference: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def collide(
        self: Tracker, lo_u: np.ndarray, hi_u: np.ndarray, h: np.ndarray
    ) -> np.ndarray | None:
        calls.append(len(self.key_hash))
        # Switch to the exact dict only after the hash table holds 4-tuples.
        return None if self.n_slots else Tracker._lookup_orig(self, lo_u, hi_u, h)

    monkeypatch.setattr(Tracker, "_lookup_orig", Tracker._lookup, raising=False)
    monkeypatch.setattr(Tracker, "_lookup", collide)
    got = analyze_capture(capture, params=PARAMS).connections
    assert len(calls) == 2  # table once, then a "collision": the exact dict for good
    pd.testing.assert_frame_equal(got, reference)


def test_long_history_rows_match(
    capture: Path, reference: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracker, "MAX_ROW", 6)  # "ShADdfFa" (8 letters) is now "long"
    got = analyze_capture(capture, params=PARAMS).connections
    assert (reference["history"].str.len() > 6).any()
    pd.testing.assert_frame_equal(got, reference)


@pytest.mark.parametrize("top", [7, 1 << 16, (1 << 16) + 1, 1 << 20, 1 << 33])
def test_stable_order_is_stable_argsort(top: int) -> None:
    keys = np.random.default_rng(top).integers(0, top, 50_000)
    assert (_stable_order(keys, top) == np.argsort(keys, kind="stable")).all()


def test_narrow_keeps_values() -> None:
    for values in ([0, 127], [-129, 5], [0, 2**31 - 1], [0, 2**31], [-(2**40)]):
        col = np.array(values, dtype=np.int64)
        narrow = _narrow(col)
        assert (narrow.astype(np.int64) == col).all()
        assert narrow.dtype.itemsize <= 8


def test_split_merges_a_small_tail_and_keeps_every_frame() -> None:
    from closebench.capture.chunk import RawChunk
    from closebench.capture.pcapfile import _split

    n = 2600
    chunk = RawChunk(
        first_frame=1,
        ts=np.arange(n, dtype=np.float64),
        linktype=np.ones(n, dtype=np.int32),
        buf=np.zeros(16, dtype=np.uint8),
        offsets=np.zeros(n, dtype=np.int64),
        caplen=np.zeros(n, dtype=np.int32),
    )
    for size, sizes in ((1000, [1000, 1000, 600]), (1200, [1200, 1400]), (5000, [2600])):
        parts = list(_split(chunk, size))
        assert [len(p) for p in parts] == sizes
        assert np.array_equal(np.concatenate([p.ts for p in parts]), chunk.ts)
        assert [p.first_frame for p in parts] == [1 + sum(sizes[:i]) for i in range(len(sizes))]
