"""Known close/teardown bugs as probes: the catalogue, its verdicts per stack, fix pairs."""
