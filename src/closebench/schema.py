"""The result schema's version: one definition for every writer and reader of a run directory.

2: connections.parquet gained link_lost_pkts, stack_fault and loss_recovery; metrics.json's
   analysis section stack_fault and loss_recovery (results/README.md). Runs of version 1 are
   re-derived from their captures with `closebench report RUN --reanalyse`.
"""

RESULT_SCHEMA_VERSION = 2
