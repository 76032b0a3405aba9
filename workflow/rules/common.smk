import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The rules run `python -m mnist_lr_batch.<step>`; the package lives in workflow/.
PYTHON_SOURCE = Path(workflow.basedir) / "workflow"
sys.path.insert(0, str(PYTHON_SOURCE))
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(PYTHON_SOURCE), os.environ.get("PYTHONPATH")])
)

from mnist_lr_batch import grid
from mnist_lr_batch.fetch import MNIST_FILES


validate(config, "../../config/schema.yaml")
try:
    EXPERIMENT_CELLS = grid.experiment_cells(config)
except grid.GridError as error:
    raise WorkflowError(f"invalid config: {error}") from None
CELLS = grid.unique_cells(EXPERIMENT_CELLS)


wildcard_constraints:
    name="|".join(MNIST_FILES),
    **grid.WILDCARD_CONSTRAINTS,


def run_files():
    """Every run file the configured grid asks for, each cell once."""
    return [cell.path for cell in CELLS]


def mirror_arguments(wildcards, output):
    """--mirror options for fetch_mnist, local mirror first.

    This takes `output` on purpose: Snakemake then treats the value as derived
    and leaves it out of the params rerun trigger. Where a file came from cannot
    change it (its checksum is verified), so switching mirrors, say from
    --config mnist_mirror=DIR back to the web, must not refetch the data.
    """
    mirrors = grid.mirror_list(config)
    return " ".join(f"--mirror {shlex.quote(mirror)}" for mirror in mirrors)


def fetch_settings(wildcards, output):
    """Timeout and retries for fetch_mnist; derived (see mirror_arguments)."""
    settings = config["mnist"]
    return f"--timeout {settings['timeout_seconds']} --retries {settings['retries']}"
