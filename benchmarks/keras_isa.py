"""Which TensorFlow settings change a Keras run's bits on this CPU, and what they cost.

    python benchmarks/keras_isa.py                    # every setting, twice each, alternating
    python benchmarks/keras_isa.py --repeats 3 --epochs 5

Each run is a real training job (`python -m mnist_lr_batch.train`) in a fresh process with
one environment setting, on a subset of MNIST. Per setting it reports the fingerprint of the
per-epoch accuracies and losses (identical fingerprints = identical bits), whether the repeats
agree with each other, and the median train_seconds. A cap that changes the fingerprint against
the default on an AVX-512 CPU is one that TensorFlow dispatches on; one that changes nothing is
not in play. Needs resources/mnist.npz (`snakemake --cores 2 -- resources/mnist.npz`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

SETTINGS = {  # name: environment variables added to the job's
    "default": {},
    "xla_max_isa_avx2": {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2"},
    "onednn_max_isa_avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "onednn_off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "xla_and_onednn_avx2": {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "all_three": {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                  "TF_ENABLE_ONEDNN_OPTS": "0"},
}


def fingerprint(run: dict) -> str:
    curves = {key: run[key] for key in ("val_accuracy", "test_accuracy", "train_loss")}
    return hashlib.sha256(json.dumps(curves).encode()).hexdigest()[:12]


def train_once(cell_path: str, environment: dict, mnist: Path, workdir: Path) -> dict:
    output = workdir / cell_path
    env = {key: value for key, value in os.environ.items()
           if key not in ("XLA_FLAGS", "ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS")}
    env |= environment | {"PYTHONPATH": str(REPO / "workflow"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-m", "mnist_lr_batch.train", "--mnist", str(mnist), "--output", str(output)],
                   env=env, check=True, capture_output=True, timeout=900)
    run = json.loads(output.read_text())
    output.unlink()
    return {"fingerprint": fingerprint(run), "train_seconds": run["train_seconds"],
            "best_val_accuracy": run["best_val_accuracy"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=Path, default=REPO / "resources" / "mnist.npz")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--activation", default="sigmoid")
    parser.add_argument("--learning-rate", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--train-size", type=int, default=20000, help="60000: all of MNIST's training set")
    parser.add_argument("--test-size", type=int, default=5000)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated, from: " + ", ".join(SETTINGS))
    args = parser.parse_args(argv)
    from mnist_lr_batch.grid import Cell

    cell = Cell("keras", args.activation, args.learning_rate, args.batch_size, seed=0, epochs=args.epochs,
                hidden_units=30, train_size=args.train_size, test_size=args.test_size)
    chosen = ["default", *(name for name in args.settings.split(",") if name != "default")]
    results = {name: [] for name in chosen}
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeats):  # settings alternate, so drift on a shared machine hits them alike
            for name in chosen:
                results[name].append(train_once(cell.path, SETTINGS[name], args.mnist, Path(scratch)))
    default = results["default"][0]["fingerprint"]
    print(f"{cell.path}, {args.repeats} repeats per setting")
    print(f"{'setting':22} {'fingerprint':13} {'repeats agree':13} {'vs default':10} {'best acc':9} {'median s':>8}")
    for name, runs in results.items():
        prints = {run["fingerprint"] for run in runs}
        print(f"{name:22} {runs[0]['fingerprint']:13} {str(len(prints) == 1):13} "
              f"{'same' if prints == {default} else 'differs':10} {runs[0]['best_val_accuracy']:<9.4f} "
              f"{statistics.median(run['train_seconds'] for run in runs):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
