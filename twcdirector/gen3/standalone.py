"""Gen 3 units without a Gen 2 bus: what both commands share to run on a monitor alone."""

from __future__ import annotations

import argparse

#: Options that only mean something on a Gen 2 bus: (argparse dest, flag).
GEN2_OPTIONS = (
    ("listen_only", "--listen-only"),
    ("max_current", "--max-current"),
    ("shared_max", "--shared-max"),
    ("controller_id", "--controller-id"),
    ("fail_safe", "--fail-safe"),
)


def check_gen3_only(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse (argparse error, exit 2) a command line with no Gen 2 bus that still sets an
    option about one, or that watches nothing at all."""
    if not (args.gen3 or getattr(args, "simulate_gen3", 0)):
        if "simulate" in vars(args):  # the utility can simulate either generation
            parser.error(
                "give --port URL or --simulate N (Gen 2), "
                "--gen3 HOST or --simulate-gen3 N (Gen 3), or both"
            )
        parser.error("give --port URL (a Gen 2 bus), --gen3 HOST[:PORT] (Gen 3 units), or both")
    for dest, flag in GEN2_OPTIONS:
        if dest in vars(args) and getattr(args, dest) != parser.get_default(dest):
            parser.error(f"{flag} is about a Gen 2 bus: give --port too, or leave it out")
