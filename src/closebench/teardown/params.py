"""Named thresholds of the teardown analysis; recorded in metrics.json next to the figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class AnalysisParams:
    # A clean close needs at most FIN, ACK, FIN, ACK (3 when the second FIN carries the ACK).
    clean_teardown_max_pkts: int = 4
    # A duel keeps exchanging teardown packets: at least this many ...
    duel_min_teardown_pkts: int = 6
    # ... for at least this long, or past the load stop (when known).
    duel_min_ms: float = 1000.0
    # Packets per chunk read from the file (memory vs per-chunk overhead).
    chunk_packets: int = 262144

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)
