"""Start-up and exit tricks for a training job: what a job does that its results never depend on.

A training job is a short process (seconds to minutes), started once per run of the grid, so
the seconds it spends outside training add up over thousands of jobs. `mnist_lr_batch.train`
uses the three tricks here; `python benchmarks/run.py --skip-ratios --startup` measures them,
and benchmarks/RESULTS.md ("Job start-up and exit") has the figures:

- `hide_unused_imports`: make the optional integrations a library would import look
  uninstalled, as they are in the network's own conda env;
- `garbage_collector_paused`: import the heavy libraries with the cyclic collector off;
- `exit_without_teardown`: end the process without the interpreter's clean-up.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.abc
import logging
import os
import sys
from typing import Sequence

# Libraries a training job uses import these, when installed, only to offer
# integrations a run never needs: Keras and TensorFlow for scikit-learn wrappers,
# DataFrame input, plotting and notebook display (3-4 s of every Keras job's
# start-up in the one-venv install), scikit-learn for DataFrame support (about
# 0.6 s and 30 MB per job), Numba for SciPy's BLAS, which it would hand to np.dot
# (0.5 s of a custom job; the compiled epoch calls no BLAS). The per-network
# conda envs have none of them, so hiding them also makes both installs alike.
# A network not listed hides nothing.
UNUSED_OPTIONAL_IMPORTS = {
    "keras": ("sklearn", "pandas", "matplotlib", "IPython"),
    "sklearn": ("pandas",),
    "custom": ("scipy",),
}


class _NotInstalled(importlib.abc.MetaPathFinder):
    """Makes these top-level packages look uninstalled: importing one raises ModuleNotFoundError."""

    def __init__(self, packages: Sequence[str]):
        self.packages = frozenset(packages)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.packages:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden from training jobs)", name=fullname)
        return None  # not ours: the next finder looks


def hide_modules(packages: Sequence[str]) -> None:
    """Make these packages look uninstalled in this process, as they are in the network's conda env.

    Not `sys.modules[name] = None`: scikit-learn takes a `pandas` key in
    sys.modules to mean pandas is loaded and reads attributes from it.
    """
    if packages:
        sys.meta_path.insert(0, _NotInstalled(packages))


def hide_unused_imports(network: str) -> None:
    """Hide what this network's libraries would import and never use (UNUSED_OPTIONAL_IMPORTS)."""
    hide_modules(UNUSED_OPTIONAL_IMPORTS.get(network, ()))


@contextlib.contextmanager
def garbage_collector_paused():
    """Run the block (the heavy imports) with the cyclic garbage collector off, then freeze what it built.

    Importing TensorFlow creates millions of objects, and the collector rescans them again and
    again while they are created: 0.6-1.0 s of a Keras job's start-up, 0.2-0.4 s of a scikit-learn
    job's (benchmarks/RESULTS.md, "Job start-up and exit"). Modules live
    until the process ends, so there is nothing for it to find; `gc.freeze` also spares the
    training that follows a late pass over all of them.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def exit_without_teardown(status: int) -> None:
    """Flush the log and end the process without the interpreter's clean-up.

    Tearing down a process that loaded TensorFlow takes 1.5 s (scikit-learn 0.5 s), about
    a sixth of a Keras job's time outside training, spent freeing memory the exit frees anyway.
    Call it only once the run file is written, closed and renamed into place (atomic.py).
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
