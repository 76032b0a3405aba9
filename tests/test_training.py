"""The training driver: timing, best epoch, divergence, the run file, the entry point."""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import sys

import numpy as np
import pytest
from synthetic import synthetic_split

from mnist_lr_batch import fast_start, train
from mnist_lr_batch.grid import Cell
from mnist_lr_batch.training import train_and_evaluate, write_run


@pytest.fixture(autouse=True)
def job_settings_undone(monkeypatch):
    """`train.main` run in this process hides a network's unused imports (SciPy, for a custom job) and pins
    the thread pools, as a job does: undo both after each test, or later tests that import scikit-learn
    in the same pytest process would skip."""
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    for variable in train.THREAD_VARIABLES:  # kept as they are, and restored after the test
        if variable in os.environ:
            monkeypatch.setenv(variable, os.environ[variable])
        else:
            monkeypatch.delenv(variable, raising=False)


class ScriptedTrainer:
    """Returns scripted losses; predicts the true labels for the first `good` calls."""

    def __init__(self, losses, accuracies, split):
        self.losses, self.accuracies, self.split, self.epoch = list(losses), list(accuracies), split, 0

    def train_epoch(self):
        self.epoch += 1
        return self.losses[self.epoch - 1]

    def predict(self, x):
        correct = int(round(self.accuracies[self.epoch - 1] * len(x)))
        labels = self.split.y_test.copy()
        labels[correct:] = (labels[correct:] + 1) % 10
        return labels


def scripted_run(losses, accuracies, epochs):
    split = synthetic_split()
    cell = Cell("custom", "relu", 1.0, 10, seed=0, epochs=epochs, hidden_units=8)
    return train_and_evaluate(cell, split, lambda c, s: ScriptedTrainer(losses, accuracies, split))


class HeldoutScriptedTrainer(ScriptedTrainer):
    """Scripted accuracies on the held-out set, and other scripted accuracies on the test set."""

    def __init__(self, losses, val_accuracies, test_accuracies, split):
        super().__init__(losses, val_accuracies, split)
        self.test_accuracies = list(test_accuracies)

    def predict(self, x):
        heldout = x is self.split.x_val
        script, labels = (self.accuracies, self.split.y_val) if heldout else (self.test_accuracies, self.split.y_test)
        correct = int(round(script[self.epoch - 1] * len(x)))
        labels = labels.copy()
        labels[correct:] = (labels[correct:] + 1) % 10
        return labels


def test_the_test_accuracy_is_read_at_the_epoch_the_heldout_set_chose():
    """Neither the last epoch's test accuracy nor the best one: the one at the held-out set's best epoch."""
    paper_split = synthetic_split()
    split = dataclasses.replace(paper_split, x_val=paper_split.x_train[:100], y_val=paper_split.y_train[:100],
                                validation_set="heldout")
    cell = Cell("custom", "relu", 1.0, 10, seed=0, epochs=4, hidden_units=8, protocol="heldout")
    trainer = HeldoutScriptedTrainer([1.0, 0.8, 0.7, 0.6], [0.5, 0.9, 0.8, 0.7], [0.55, 0.85, 0.95, 0.75], split)
    result = train_and_evaluate(cell, split, lambda c, s: trainer)
    assert result["val_accuracy"] == pytest.approx([0.5, 0.9, 0.8, 0.7])
    assert result["test_accuracy"] == pytest.approx([0.55, 0.85, 0.95, 0.75])
    assert result["best_epoch"] == 2 and result["best_val_accuracy"] == pytest.approx(0.9)
    assert result["test_accuracy_at_best"] == pytest.approx(0.85)


def test_best_epoch_is_one_based_and_earliest_on_ties():
    result = scripted_run([1.0, 0.8, 0.7, 0.6], [0.5, 0.9, 0.9, 0.7], epochs=4)
    assert result["best_epoch"] == 2
    assert result["best_val_accuracy"] == pytest.approx(0.9)
    assert result["final_val_accuracy"] == pytest.approx(0.7)
    assert result["diverged"] is None and result["epochs_run"] == 4
    assert len(result["epoch_seconds"]) == 4
    assert result["train_seconds"] >= sum(result["epoch_seconds"])


def test_divergence_stops_the_run_and_is_recorded(tmp_path):
    result = scripted_run([1.0, 0.5, float("nan"), 0.1, 0.1], [0.3, 0.6, 0.1, 0.1, 0.1], epochs=5)
    assert result["diverged"] == 3
    assert result["epochs_run"] == 3 and len(result["val_accuracy"]) == 3
    assert result["train_loss"] == [1.0, 0.5, None]
    assert result["best_epoch"] == 2
    path = tmp_path / "run.json"
    write_run(result, path)  # strict JSON: no NaN
    assert json.loads(path.read_text())["train_loss"][-1] is None


def test_infinite_loss_is_divergence_too():
    result = scripted_run([1.0, math.inf], [0.3, 0.1], epochs=2)
    assert result["diverged"] == 2


def fake_mnist(path, n_train=300, n_test=100):
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train, dtype=np.uint8),
        x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test, dtype=np.uint8),
    )
    return path


def test_entry_point_reads_the_cell_from_the_output_path(tmp_path):
    mnist = fake_mnist(tmp_path / "mnist.npz")
    cell = Cell("custom", "tanh", 0.5, 25, seed=1, epochs=2, hidden_units=12, train_size=200, test_size=50)
    output = tmp_path / cell.path
    assert train.main(["--mnist", str(mnist), "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert (result["network"], result["activation"], result["learning_rate"], result["batch_size"]) == (
        "custom", "tanh", 0.5, 25)
    assert (result["train_size"], result["test_size"], result["hidden_units"], result["epochs_run"]) == (200, 50, 12, 2)
    assert result["versions"]["numpy"] == np.__version__ and result["threads"] == 1
    # provenance: the CPU, what the compiled kernels were built for, the ISA caps in force
    assert result["cpu"] and result["kernel_target"]["vector_isa"] in {"avx512", "avx2", "sse"}
    assert result["kernel_target"]["cpu_name"] and isinstance(result["isa_caps"], dict)
    expected_keys = {"val_accuracy", "train_loss", "epoch_seconds", "best_epoch", "best_val_accuracy",
                     "final_val_accuracy", "train_seconds", "diverged", "seed", "epochs"}
    assert expected_keys <= set(result)


def test_the_heavy_imports_pause_the_garbage_collector_and_leave_it_running_even_on_error():
    frozen_before = gc.get_freeze_count()
    try:
        with pytest.raises(ImportError), fast_start.garbage_collector_paused():
            assert not gc.isenabled()
            imported = [[] for _ in range(1000)]  # tracked objects, as an import creates
            raise ImportError("a failed import")
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(imported)  # later collections skip them
    finally:
        gc.unfreeze()


def test_a_job_hides_only_its_own_networks_unused_imports():
    from conftest import run_python

    program = (
        "import importlib, sys\n"
        "from mnist_lr_batch import fast_start\n"
        "fast_start.hide_unused_imports(sys.argv[1])\n"
        "for name in ('pandas', 'scipy'):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        print(name, 'imported')\n"
        "    except ModuleNotFoundError as error:\n"
        "        print(name, 'hidden' if 'hidden from training jobs' in str(error) else 'missing')\n"
    )
    outputs = {network: run_python("-c", program, network) for network in ("sklearn", "custom", "toy")}
    assert all(result.returncode == 0 for result in outputs.values()), outputs
    assert outputs["sklearn"].stdout.split() == ["pandas", "hidden", "scipy", "imported"]
    assert outputs["custom"].stdout.split() == ["pandas", "imported", "scipy", "hidden"]
    assert outputs["toy"].stdout.split() == ["pandas", "imported", "scipy", "imported"]  # not listed: hides nothing


def run_entry_point(mnist, output) -> "subprocess.CompletedProcess":
    from conftest import run_python

    return run_python("-m", "mnist_lr_batch.train", "--mnist", str(mnist), "--output", str(output))


def test_the_job_process_skips_teardown_but_keeps_its_run_file_and_its_log(tmp_path):
    mnist = fake_mnist(tmp_path / "mnist.npz")
    cell = Cell("custom", "sigmoid", 0.5, 25, seed=1, epochs=2, hidden_units=12, train_size=200, test_size=50)
    output = tmp_path / cell.path
    finished = run_entry_point(mnist, output)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert json.loads(output.read_text())["epochs_run"] == 2
    assert "INFO best test accuracy" in finished.stderr.splitlines()[-1]  # the log was flushed before the exit
    assert [path.name for path in output.parent.iterdir()] == [output.name]  # no temporary left

    failed = run_entry_point(mnist, tmp_path / "run.json")  # an error still exits as errors do
    assert failed.returncode == 1 and "is not a run path" in failed.stderr


def test_entry_point_rejects_a_path_that_names_no_cell(tmp_path):
    with pytest.raises(ValueError, match="is not a run path"):
        train.main(["--mnist", str(fake_mnist(tmp_path / "m.npz")), "--output", str(tmp_path / "run.json")])


def test_subset_larger_than_the_data_is_an_error(tmp_path):
    mnist = fake_mnist(tmp_path / "mnist.npz")
    cell = Cell("custom", "tanh", 0.5, 25, seed=1, epochs=1, hidden_units=12, train_size=5000, test_size=50)
    with pytest.raises(ValueError, match="subset asks for 5000 training images but only 300 are available"):
        train.main(["--mnist", str(mnist), "--output", str(tmp_path / cell.path)])
