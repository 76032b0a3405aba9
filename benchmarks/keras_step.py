"""Where a Keras job's time goes: XLA compilation, and the cost of one mini-batch step.

    python benchmarks/keras_step.py                      # unroll 1, 2, 4, 8 and the persistent cache
    python benchmarks/keras_step.py --unroll 1 4 --repeats 3 --epochs 3

Each measurement is a fresh process that trains the workflow's Keras model (sigmoid, lr 0.1, batch
10) on the first --images training images, with one of:
- `unroll K`: the XLA loop runs K mini-batch steps per iteration (K=1 is the shipped code);
- `cache`: the shipped code with TensorFlow's persistent XLA compilation cache
  (`TF_XLA_FLAGS=--tf_xla_persistent_cache_directory`), warmed by one unmeasured run first.
It reports the first epoch's excess over a steady epoch (mostly tracing and XLA compilation), the
steady microseconds per step, and a fingerprint of the final weights: the same fingerprint as
`unroll 1` means the same bits. Settings alternate, so a noisy machine hits all of them alike.
Needs resources/mnist.npz (`snakemake --cores 2 -- resources/mnist.npz`).
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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

BATCH_SIZE = 10


def unrolled(trainer, unroll: int) -> None:
    """Make `trainer` run `unroll` steps per XLA loop iteration, in the same order."""
    import tensorflow as tf

    def train_batches(x, y, batches):
        total = tf.constant(0.0)
        groups = tf.reshape(batches, (-1, unroll, tf.shape(batches)[1]))
        for index in tf.range(tf.shape(groups)[0]):
            for step in range(unroll):  # a Python loop: traced `unroll` times into the loop body
                rows = groups[index, step]
                total += trainer.train_step(tf.gather(x, rows), tf.gather(y, rows))
        return total

    trainer._train_batches = tf.function(train_batches, jit_compile=True)


def measure(unroll: int, images: int, epochs: int) -> dict:
    """In this process: train, time each epoch, fingerprint the final weights."""
    import numpy as np

    from mnist_lr_batch.networks import keras_mlp

    keras_mlp.configure(1)
    with np.load(REPO / "resources" / "mnist.npz") as data:
        x = (data["x_train"][:images].reshape(images, -1) / np.float32(255)).astype(np.float32)
        y = data["y_train"][:images].astype(np.int64)
    if images % (BATCH_SIZE * unroll):
        raise SystemExit(f"--images must be a multiple of {BATCH_SIZE * unroll}")
    keras_mlp.keras.utils.set_random_seed(0)
    model = keras_mlp.build_model(x.shape[1], 30, "sigmoid")
    trainer = keras_mlp.KerasTrainer(model, x, y, BATCH_SIZE, 0.1, seed=0)
    if unroll > 1:
        unrolled(trainer, unroll)
    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        trainer.train_epoch()
        seconds.append(time.perf_counter() - started)
    weights = b"".join(np.ascontiguousarray(w).tobytes() for w in model.get_weights())
    steady = statistics.median(seconds[1:])
    return {"first_epoch_excess_seconds": seconds[0] - steady,
            "us_per_step": steady / (images // BATCH_SIZE) * 1e6,
            "weights": hashlib.sha256(weights).hexdigest()[:12]}


def run_setting(setting: str, images: int, epochs: int, cache_dir: str) -> dict:
    kind, _, value = setting.partition(" ")
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    if kind == "cache":
        env["TF_XLA_FLAGS"] = f"--tf_xla_persistent_cache_directory={cache_dir}"
    unroll = int(value) if kind == "unroll" else 1
    finished = subprocess.run([sys.executable, __file__, "measure", str(unroll), str(images), str(epochs)],
                              env=env, capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unroll", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--no-cache", action="store_true", help="leave out the persistent-cache setting")
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3, help="per measurement; the first one compiles")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    settings = [f"unroll {k}" for k in args.unroll] + ([] if args.no_cache else ["cache"])
    results = {setting: [] for setting in settings}
    with tempfile.TemporaryDirectory() as cache_dir:
        if not args.no_cache:
            run_setting("cache", args.images, 2, cache_dir)  # warm the cache, unmeasured
        for repeat in range(args.repeats):
            for setting in settings[:: 1 if repeat % 2 == 0 else -1]:
                results[setting].append(run_setting(setting, args.images, args.epochs, cache_dir))
                print(f"  {setting}: {results[setting][-1]}", file=sys.stderr)
    print(f"{'setting':10} {'first-epoch excess s':>21} {'us/step':>8}  weights")
    for setting, rows in results.items():
        excess = statistics.median(row["first_epoch_excess_seconds"] for row in rows)
        per_step = statistics.median(row["us_per_step"] for row in rows)
        prints = sorted({row["weights"] for row in rows})
        print(f"{setting:10} {excess:21.2f} {per_step:8.1f}  {','.join(prints)}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        print(json.dumps(measure(*map(int, sys.argv[2:5]))))
    else:
        sys.exit(main())
