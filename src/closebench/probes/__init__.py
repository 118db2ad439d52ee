"""Close-handling probes: scripted raw-TCP exchanges that fingerprint a stack's close path.

`run_probes(variant, probes, out_dir)` writes out_dir/<variant>.json; `verify(...)` says
whether the variant behaves as its manifest's [expect] claims.
"""

from closebench.probes.catalog import probe_names
from closebench.probes.verify import failures, run_probes, verify

__all__ = ["failures", "probe_names", "run_probes", "verify"]
