"""`--device-speed model|model-slow|model-fast|host`: the chip's modelled speed, an end of its
interval, or host speed.

Shared by run, compare, probe and bench up (as source_flags shares --exact/--approximate).
"""

from __future__ import annotations

import argparse

from closebench.variants.timing import DEFAULT_SPEED, DEVICE_SPEEDS, HOST_LABEL


def add_speed_flag(parser: argparse.ArgumentParser, default: str = DEFAULT_SPEED) -> None:
    parser.add_argument(
        "--device-speed",
        choices=DEVICE_SPEEDS,
        default=default,
        help="model: each lwIP variant serves on one emulated core at its [timing] service "
        "times (variant.toml), so work queues as on the chip; model-slow / model-fast: every "
        "figure at the slow / fast end of its interval ([timing.stack], [timing.cpi]); host: "
        f"answer at {HOST_LABEL}, the behaviour before the model (default: {default})",
    )
