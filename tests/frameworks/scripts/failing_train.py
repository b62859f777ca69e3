"""A training script that fails the way user code fails: an exception after some output."""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
args = parser.parse_args()
print(f"starting {args.epochs} epoch(s)")
raise ValueError("the labels column is missing")
