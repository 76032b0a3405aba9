# From run files to the study's tables, figures and the paper comparison.
# Each step depends on its own module, so editing the plotting code redraws the
# figures and retrains nothing. All of these take seconds: on a cluster they run
# on the login node instead of waiting in the queue.


localrules:
    run_index,
    aggregate,
    claims,
    forensics,
    compare_with_paper,
    plot_accuracy,
    plot_time,
    plot_learning_curves,
    plot_optimism,
    plot_heatmap,
    findings,


# The report's first category: the verdicts on the paper (the front page shows the scorecard too).
VERDICTS = "Verdicts on the paper"


# What every figure is drawn with: editing any of it redraws the figures.
PLOTTING_CODE = [
    source_file(name) for name in ("plots.py", "aggregate.py", "labels.py")
]


# The list of run files grows with the grid: a 2,880-run list passed as one
# shell argument exceeded Linux's 128 KiB limit. It goes through a file; the
# params trigger rewrites the file (and so reaggregates) when the grid changes.
rule run_index:
    output:
        "results/run_index.json",
    log:
        "logs/run_index.log",
    params:
        index=run_index,
    run:
        grid.write_run_index(params.index, output[0], log[0])


rule aggregate:
    input:
        runs=run_files(),
        index="results/run_index.json",
        code=source_file("aggregate.py"),
    output:
        runs=report(
            "results/runs.csv",
            caption="../report/runs.rst",
            category="Tables (every run, every epoch, every cell)",
            labels={"table": "runs (one row per run per experiment)"},
        ),
        epochs=report(
            "results/epochs.csv",
            caption="../report/epochs.rst",
            category="Tables (every run, every epoch, every cell)",
            labels={"table": "epochs (one row per run per epoch)"},
        ),
        summary=report(
            "results/summary.csv",
            caption="../report/summary.rst",
            category="Tables (every run, every epoch, every cell)",
            labels={"table": "summary (per cell across seeds)"},
        ),
    log:
        "logs/aggregate.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=all_settings,
    shell:
        "python -m mnist_lr_batch.aggregate --run-index {input.index} "
        "--runs {output.runs} --epochs {output.epochs} --summary {output.summary} 2> {log}"


rule compare_with_paper:
    input:
        runs="results/runs.csv",
        reported=repo_file("config/paper_reported_best.csv"),
        code=[source_file("compare.py"), source_file("intervals.py")],
    output:
        csv=report(
            "results/paper_comparison.csv",
            caption="../report/paper_comparison.rst",
            category=VERDICTS,
            labels={"table": "comparison with the paper"},
        ),
        markdown="results/paper_comparison.md",
    log:
        "logs/compare_with_paper.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=all_settings,
    shell:
        "python -m mnist_lr_batch.compare --runs {input.runs} --reported {input.reported} "
        "--csv {output.csv} --markdown {output.markdown} 2> {log}"


rule claims:
    input:
        runs="results/runs.csv",
        reported=repo_file("config/paper_reported_best.csv"),
        code=[source_file(name) for name in ("claims.py", "compare.py", "intervals.py")],
    output:
        csv=report(
            "results/claims.csv",
            caption="../report/claims.rst",
            category=VERDICTS,
            labels={"table": "the paper's claims, tested (CSV, every check)"},
        ),
        markdown="results/claims.md",
        html=report(
            "results/claims.html",
            caption="../report/claims.rst",
            category=VERDICTS,
            labels={"table": "the paper's claims, tested (scorecard)"},
        ),
    log:
        "logs/claims.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=all_settings,
    shell:
        "python -m mnist_lr_batch.claims --runs {input.runs} --reported {input.reported} "
        "--csv {output.csv} --markdown {output.markdown} --html {output.html} 2> {log}"


rule forensics:
    input:
        runs="results/runs.csv",
        reported=repo_file("config/paper_reported_best.csv"),
        code=[
            source_file(name)
            for name in ("forensics.py", "compare.py", "intervals.py", "labels.py")
        ],
    output:
        report(
            "results/forensics.md",
            caption="../report/forensics.rst",
            category=VERDICTS,
            labels={"table": "forensics: which detail explains each gap"},
        ),
    log:
        "logs/forensics.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        experiments=forensic_experiments,
        settings=all_settings,
    shell:
        "python -m mnist_lr_batch.forensics --runs {input.runs} --reported {input.reported} "
        "--experiments {params.experiments} --output {output} 2> {log}"


rule plot_accuracy:
    input:
        runs="results/runs.csv",
        reported=repo_file("config/paper_reported_best.csv"),
        code=PLOTTING_CODE,
    output:
        png=report(
            "results/figures/accuracy_vs_{experiment}_{activation}.png",
            caption="../report/accuracy.rst",
            category=report_category,
            subcategory="{activation}",
            labels={"figure": "best accuracy", "activation": "{activation}"},
        ),
        svg="results/figures/accuracy_vs_{experiment}_{activation}.svg",
    log:
        "logs/plot_accuracy/{experiment}_{activation}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        x_axis=x_axis,
        settings=experiment_settings,
    shell:
        "python -m mnist_lr_batch.plots accuracy --runs {input.runs} --reported {input.reported} "
        "--experiment {wildcards.experiment} --activation {wildcards.activation} "
        "--x-axis {params.x_axis} --png {output.png} --svg {output.svg} 2> {log}"


rule plot_time:
    input:
        runs="results/runs.csv",
        code=PLOTTING_CODE,
    output:
        png=report(
            "results/figures/time_vs_{experiment}.png",
            caption="../report/time.rst",
            category=report_category,
            subcategory="all activations",
            labels={"figure": "execution time", "activation": "all"},
        ),
        svg="results/figures/time_vs_{experiment}.svg",
    log:
        "logs/plot_time/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        x_axis=x_axis,
        settings=experiment_settings,
    shell:
        "python -m mnist_lr_batch.plots time --runs {input.runs} --experiment {wildcards.experiment} "
        "--x-axis {params.x_axis} --png {output.png} --svg {output.svg} 2> {log}"


rule plot_heatmap:
    input:
        runs="results/runs.csv",
        code=PLOTTING_CODE + [source_file("compare.py")],
    output:
        png=report(
            "results/figures/heatmap_{experiment}.png",
            caption="../report/heatmap.rst",
            category=report_category,
            subcategory="learning rate x mini-batch size",
            labels={"figure": "accuracy heatmap", "activation": "all"},
        ),
        svg="results/figures/heatmap_{experiment}.svg",
    log:
        "logs/plot_heatmap/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=experiment_settings,
    shell:
        "python -m mnist_lr_batch.plots heatmap --runs {input.runs} --experiment {wildcards.experiment} "
        "--png {output.png} --svg {output.svg} 2> {log}"


rule plot_learning_curves:
    input:
        epochs="results/epochs.csv",
        code=PLOTTING_CODE,
    output:
        png=report(
            "results/figures/learning_curves_{network}.png",
            caption="../report/learning_curves.rst",
            category="Learning curves (every run, epoch by epoch)",
            subcategory="{network}",
            labels={"figure": "learning curves", "network": "{network}"},
        ),
        svg="results/figures/learning_curves_{network}.svg",
    log:
        "logs/plot_learning_curves/{network}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        settings=all_settings,
    shell:
        "python -m mnist_lr_batch.plots curves --epochs {input.epochs} --network {wildcards.network} "
        "--png {output.png} --svg {output.svg} 2> {log}"


rule plot_optimism:
    input:
        runs="results/runs.csv",
        epochs="results/epochs.csv",
        code=PLOTTING_CODE,
    output:
        png=report(
            "results/figures/protocol_optimism_{experiment}.png",
            caption="../report/optimism.rst",
            category=report_category,
            subcategory="all activations",
            labels={"figure": "protocol optimism", "activation": "all"},
        ),
        svg="results/figures/protocol_optimism_{experiment}.svg",
    log:
        "logs/plot_optimism/{experiment}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        x_axis=x_axis,
        settings=experiment_settings,
    shell:
        "python -m mnist_lr_batch.plots optimism --runs {input.runs} --epochs {input.epochs} "
        "--experiment {wildcards.experiment} --x-axis {params.x_axis} "
        "--png {output.png} --svg {output.svg} 2> {log}"


rule findings:
    input:
        runs="results/runs.csv",
        epochs="results/epochs.csv",
        code=[
            source_file("findings.py"),
            source_file("aggregate.py"),
            source_file("labels.py"),
        ],
    output:
        report(
            "results/findings.md",
            caption="../report/findings.rst",
            category="Answers to the paper's open questions",
            labels={"document": "answers to the paper's open questions"},
        ),
    log:
        "logs/findings.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        questions=questions_json,
        settings=quoted_settings,
    shell:
        "python -m mnist_lr_batch.findings --runs {input.runs} --epochs {input.epochs} "
        "--questions {params.questions} --settings {params.settings} --output {output} 2> {log}"
