"""verify: a rerun checked against a published run, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mnist_lr_batch import verify


def epochs_table(runs=("custom/a", "custom/b", "keras/c"), epochs=3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"network": run.split("/")[0], "run_file": f"results/runs/{run}.json", "epoch": epoch,
             "val_accuracy": rng.random(), "test_accuracy": rng.random(), "train_loss": rng.random() * 3,
             "epoch_seconds": rng.random()}
            for run in runs for epoch in range(1, epochs + 1)]
    return pd.DataFrame(rows)


def write(table: pd.DataFrame, path) -> str:
    table.to_csv(path, index=False)
    return str(path)


def one_ulp_up(value: float) -> float:
    return float(np.nextafter(value, np.inf))


def test_an_identical_rerun_passes_through_csv_and_its_clock_is_not_compared(tmp_path, capsys):
    reference = epochs_table()
    rerun = reference.assign(epoch_seconds=reference["epoch_seconds"] * 2)
    assert verify.main([write(reference, tmp_path / "a.csv"), write(rerun, tmp_path / "b.csv")]) == 0
    assert "every run of the reference is bit-identical" in capsys.readouterr().out


@pytest.mark.parametrize("column", verify.COMPARED)
def test_one_ulp_in_one_epoch_is_a_difference_reported_at_that_epoch(tmp_path, column, capsys):
    reference = epochs_table()
    rerun = reference.copy()
    row = (rerun["run_file"] == "results/runs/custom/b.json") & (rerun["epoch"] == 2)
    rerun.loc[row, column] = one_ulp_up(float(rerun.loc[row, column].iloc[0]))
    assert verify.main([write(reference, tmp_path / "a.csv"), write(rerun, tmp_path / "b.csv")]) == 1
    output = capsys.readouterr().out
    assert "differs from epoch 2: results/runs/custom/b.json" in output and "NOT bit-identical" in output
    verdicts = verify.compare_epochs(reference, rerun)
    assert verify.counts(verdicts).loc["custom", ["reference_runs", "identical", "differs"]].tolist() == [2, 1, 1]


def test_nan_equals_nan_but_not_a_number(tmp_path):
    reference = epochs_table()
    reference.loc[reference["epoch"] == 3, "train_loss"] = np.nan  # diverged runs' losses
    assert verify.compare_epochs(reference, reference.copy())["status"].eq("identical").all()
    other_nan = reference.copy()
    losses = other_nan["train_loss"].to_numpy().copy()  # (pandas' .loc would store the usual NaN)
    losses[other_nan["epoch"].to_numpy() == 3] = np.copysign(np.nan, -1.0)  # another NaN bit pattern
    other_nan["train_loss"] = losses
    assert verify.compare_epochs(reference, other_nan)["status"].eq("identical").all()
    rerun = reference.copy()
    rerun.loc[0, "train_loss"] = np.nan
    assert verify.compare_epochs(reference, rerun).set_index("run_file").loc[
        "results/runs/custom/a.json", "status"] == "differs"


def test_a_missing_run_or_epoch_fails_and_an_extra_run_does_not(tmp_path):
    reference = epochs_table()
    verdicts = verify.compare_epochs(reference, reference[reference["run_file"] != "results/runs/keras/c.json"])
    assert verify.counts(verdicts).loc["keras", "missing"] == 1
    assert verify.main([write(reference, tmp_path / "a.csv"),
                        write(reference[reference["epoch"] < 3], tmp_path / "b.csv")]) == 1
    extra = pd.concat([reference, epochs_table(runs=("sklearn/d",))])
    verdicts = verify.compare_epochs(reference, extra)
    assert verify.counts(verdicts).loc["sklearn", ["reference_runs", "extra"]].tolist() == [0, 1]
    assert verify.main([write(reference, tmp_path / "a.csv"), write(extra, tmp_path / "b.csv")]) == 0


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SystemExit):
        verify.main([str(tmp_path / "nothing.csv"), str(tmp_path / "nothing.csv")])
