# mnist-lr-batch: reproduce and extend Fabrizio (2021), "Effects of Learning Rate
# and Mini-Batch Size on Neural Network Performance in the Classification of
# Handwritten Digits". See README.md.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# This repository's root, wherever the run happens: the directory of this file,
# also when another workflow uses this one as a module (`module mnist:
# snakefile: ...`), where workflow.basedir is the outer workflow's directory.
REPOSITORY = Path(workflow.current_basedir)

# config/config.yaml is the default; a --configfile replaces it instead of being
# merged into it, so config/quick.yaml runs only its own grid. The path is
# anchored at this file so that --directory elsewhere works. Used as a module,
# the outer workflow's `config:` replaces it the same way (Snakemake then skips
# this directive).
if not workflow.overwrite_configfiles:

    configfile: REPOSITORY / "config" / "config.yaml"


# The report's front page (snakemake --report report.html).
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/results.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        "results/runs.csv",
        "results/epochs.csv",
        "results/summary.csv",
        "results/paper_comparison.csv",
        "results/paper_comparison.md",
        claims_files(),
        figure_files(),
        findings_files(),
        forensics_files(),
