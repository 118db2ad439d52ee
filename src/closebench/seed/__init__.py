"""The 2016 test, replayed: the seed study (`closebench seed`).

One continuous run of the original procedure (benchmarks/profiles/seed-2016*.toml, one per
client behaviour) per hypothesis (closebench.seed.grid: nodemcu-2016's apps x client behaviours
x device speeds) and for the `linux-reference` control, over the lab's link
(benchmarks/links/seed-lab.toml), several link seeds; then a verdict per observation of the
original post per hypothesis, with evidence from the cells' captures and connections.parquet
and every duel's ladder, in seed.json (docs/seed-hypotheses.md).
"""

from closebench.seed.study import (
    CONTROL,
    LINK,
    PROFILE,
    VARIANT,
    build_seed_json,
    run_seed_study,
)

__all__ = ["CONTROL", "LINK", "PROFILE", "VARIANT", "build_seed_json", "run_seed_study"]
