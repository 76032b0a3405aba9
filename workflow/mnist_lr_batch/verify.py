"""Check your own run against a published one, bit for bit.

    PYTHONPATH=workflow python -m mnist_lr_batch.verify docs/full_run/epochs.csv results/epochs.csv

Compares every run of the reference that your table also has, epoch by epoch: validation accuracy,
test accuracy and training loss must be equal to the last bit (NaN, a diverged loss, equals NaN).
The clock (epoch_seconds) is not compared. Prints, per network, the runs compared, how many are
bit-identical and which differ (with the first epoch that does), and exits 0 only when every run of
the reference is present and identical. The custom and scikit-learn kernels give the same bits on
any AVX2+FMA x86 CPU; Keras may not (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

COMPARED = ["val_accuracy", "test_accuracy", "train_loss"]
KEYS = ["run_file", "epoch"]


def same_bits(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise: equal as float64 bit patterns, or both NaN (a NaN's payload is not a result)."""
    left, right = a.to_numpy(dtype=np.float64), b.to_numpy(dtype=np.float64)
    return (left.view(np.int64) == right.view(np.int64)) | (np.isnan(left) & np.isnan(right))


def compare_epochs(reference: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """One row per run of either table: network, run_file, status and the first differing epoch.

    status is `identical`, `differs`, `missing` (in the reference only) or `extra` (in the candidate only).
    """
    merged = reference[["network", *KEYS, *COMPARED]].merge(
        candidate[[*KEYS, *COMPARED]], on=KEYS, how="outer", suffixes=("", "_candidate"), indicator=True)
    merged["network"] = merged["network"].fillna(merged["run_file"].map(network_of))
    equal = np.logical_and.reduce([same_bits(merged[key], merged[f"{key}_candidate"]) for key in COMPARED])
    merged["equal"] = equal & (merged["_merge"] == "both")
    rows = []
    for run_file, epochs in merged.groupby("run_file", sort=True):
        sides = set(epochs["_merge"])
        if sides == {"left_only"}:
            status, first = "missing", None
        elif sides == {"right_only"}:
            status, first = "extra", None
        elif epochs["equal"].all():
            status, first = "identical", None
        else:
            status, first = "differs", int(epochs.loc[~epochs["equal"], "epoch"].min())
        rows.append({"network": epochs["network"].iloc[0], "run_file": run_file, "status": status,
                     "first_differing_epoch": first})
    table = pd.DataFrame(rows, columns=["network", "run_file", "status", "first_differing_epoch"])
    return table.astype({"first_differing_epoch": "Int64"})


def network_of(run_file: str) -> str:
    """results/runs/<network>/... -> <network>."""
    parts = Path(run_file).parts
    return parts[parts.index("runs") + 1] if "runs" in parts else "?"


def counts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per network: runs in the reference, identical, differing, missing, extra."""
    table = pd.crosstab(verdicts["network"], verdicts["status"])
    for status in ["identical", "differs", "missing", "extra"]:
        if status not in table:
            table[status] = 0
    table = table[["identical", "differs", "missing", "extra"]]
    table.insert(0, "reference_runs", table["identical"] + table["differs"] + table["missing"])
    return table


def report(verdicts: pd.DataFrame) -> str:
    lines = [counts(verdicts).to_string()]
    differing = verdicts[verdicts["status"] == "differs"]
    for row in differing.itertuples():
        lines.append(f"differs from epoch {row.first_differing_epoch}: {row.run_file}")
    for row in verdicts[verdicts["status"] == "missing"].itertuples():
        lines.append(f"missing from your table: {row.run_file}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="the published epochs.csv, e.g. docs/full_run/epochs.csv")
    parser.add_argument("candidate", type=Path, help="your epochs.csv, e.g. results/epochs.csv")
    args = parser.parse_args(argv)
    for path in (args.reference, args.candidate):
        if not path.is_file():
            parser.error(f"{path} does not exist (a finished run writes results/epochs.csv)")
    verdicts = compare_epochs(pd.read_csv(args.reference), pd.read_csv(args.candidate))
    print(report(verdicts))
    identical = verdicts["status"].isin(["identical", "extra"]).all()
    print("every run of the reference is bit-identical" if identical else "NOT bit-identical")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
