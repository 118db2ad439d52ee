"""How often the repetition check flags repetitions that all drew from ONE fault rate.

    python dev-tools/repetition_false_flags.py [--trials 4000] [--seed 1]

For each fault rate p, connections per repetition n and number of repetitions r, draws r
Binomial(n, p) counts `--trials` times and counts how often closebench.report.stability
calls them disagreeing (their 95 % Wilson intervals do not all overlap). Prints a markdown
table for docs/repetitions.md. Every flag here is a false alarm: the rate never changed.
"""

from __future__ import annotations

import argparse

import numpy as np

from closebench.report.stability import Repetition, disagreement
from closebench.teardown.rates import Rate

RATES = (0.01, 0.1, 0.3)
CONNECTIONS = (50, 200, 1000)
REPETITIONS = (2, 3, 5)


def false_flag_rate(p: float, n: int, r: int, trials: int, rng: np.random.Generator) -> float:
    counts = rng.binomial(n, p, size=(trials, r))
    flagged = 0
    for row in counts:
        reps = [Repetition(f"r{i}", i, Rate(int(k), n)) for i, k in enumerate(row, 1)]
        flagged += disagreement("s", "c", reps) is not None
    return flagged / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    head = [f"r = {r}" for r in REPETITIONS]
    print("| fault rate | connections per repetition | " + " | ".join(head) + " |")
    print("|---|---|" + "---|" * len(head))
    for p in RATES:
        for n in CONNECTIONS:
            cells = [false_flag_rate(p, n, r, args.trials, rng) for r in REPETITIONS]
            print(f"| {p:.0%} | {n} | " + " | ".join(f"{c:.2%}" for c in cells) + " |")


if __name__ == "__main__":
    main()
