"""`--device-speed model|host`: whether the device answers at the chip's modelled speed.

Shared by run, compare, probe and bench up (as source_flags shares --exact/--approximate).
"""

from __future__ import annotations

import argparse

from closebench.variants.timing import DEFAULT_SPEED, DEVICE_SPEEDS


def add_speed_flag(parser: argparse.ArgumentParser, default: str = DEFAULT_SPEED) -> None:
    parser.add_argument(
        "--device-speed",
        choices=DEVICE_SPEEDS,
        default=default,
        help="model: each lwIP variant serves on one emulated core at its [timing] service "
        "times (variant.toml), so work queues as on the chip; host: answer at host speed, "
        f"the behaviour before the model (default: {default})",
    )
