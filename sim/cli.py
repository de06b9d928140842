"""`omo-edge sim` (placeholder until the simulator lands)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1)


def main(args: argparse.Namespace) -> int:
    print("the simulator is not built yet")
    return 1
