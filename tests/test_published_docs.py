"""The committed docs/ are what the code generates from their runs, and the README quotes them exactly."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import REPO

from mnist_lr_batch import publish

PUBLISHED = [REPO / "docs" / "full_run", REPO / "docs" / "replicates"]
FORENSICS = REPO / "docs" / "forensics"
SWEEP2D = REPO / "docs" / "sweep2d"  # a 2-D grid: no paper sweeps, so tables and figures, no verdicts
GENERATED = ["summary.csv", "paper_comparison.csv", "paper_comparison.md", "claims.csv", "claims.md"]


@pytest.mark.parametrize("docs", PUBLISHED, ids=lambda path: path.name)
def test_committed_verdicts_are_regenerated_exactly_from_the_committed_runs(docs, tmp_path):
    publish.write_verdicts(pd.read_csv(docs / "runs.csv"), tmp_path, pd.read_csv(publish.REPORTED))
    for name in GENERATED:
        assert (tmp_path / name).read_text() == (docs / name).read_text(), (
            f"{docs / name} is stale: python -m mnist_lr_batch.publish --docs {docs.relative_to(REPO)}")


def test_the_committed_forensics_are_regenerated_exactly_from_their_runs(tmp_path):
    import yaml

    from mnist_lr_batch import forensics, grid

    experiments = grid.forensic_experiments(yaml.safe_load((FORENSICS / "config.yaml").read_text()))
    text = forensics.forensics(pd.read_csv(FORENSICS / "runs.csv"), pd.read_csv(publish.REPORTED), experiments)
    assert text == (FORENSICS / "forensics.md").read_text()


def test_publish_copies_a_finished_run(tmp_path):
    results = tmp_path / "results"
    (results / "figures").mkdir(parents=True)
    (results / "runs.csv").write_text((PUBLISHED[0] / "runs.csv").read_text())
    epochs = pd.DataFrame({"network": "custom", "run_file": "results/runs/custom/a.json", "epoch": [1, 2],
                           "val_accuracy": [0.5, 0.25], "test_accuracy": [0.5, 0.75], "train_loss": [1e-7, 3.0],
                           "epoch_seconds": [0.1, 0.2], "batch_size": 10})
    epochs.to_csv(results / "epochs.csv", index=False)
    (results / "figures" / "figure.png").write_bytes(b"png")
    assert publish.main(["--results", str(results), "--docs", str(tmp_path / "docs")]) == 0
    assert (tmp_path / "docs" / "figures" / "figure.png").read_bytes() == b"png"
    assert {path.name for path in (tmp_path / "docs").iterdir()} == {"runs.csv", "epochs.csv", "figures", *GENERATED}
    published = pd.read_csv(tmp_path / "docs" / "epochs.csv")  # the curves without the clock, to verify against
    assert list(published.columns) == ["network", "run_file", "epoch", "val_accuracy", "test_accuracy", "train_loss"]
    assert published.equals(epochs[published.columns])
    with pytest.raises(SystemExit):
        publish.main(["--results", str(tmp_path / "missing"), "--docs", str(tmp_path / "docs")])


def test_publish_copies_a_forensics_runs_table_of_hypotheses(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "runs.csv").write_text((FORENSICS / "runs.csv").read_text())
    pd.DataFrame(columns=["network", "run_file", "epoch", "val_accuracy", "test_accuracy", "train_loss"]).to_csv(
        results / "epochs.csv", index=False)
    (results / "forensics.md").write_text("# Forensics\n")
    assert publish.main(["--results", str(results), "--docs", str(tmp_path / "docs")]) == 0
    assert (tmp_path / "docs" / "forensics.md").read_text() == "# Forensics\n"


def readme_results() -> str:
    text = (REPO / "README.md").read_text()
    return text[text.index("## Results"):text.index("\n## ", text.index("## Results") + 1)]


@pytest.mark.parametrize("docs", PUBLISHED, ids=lambda path: path.name)
@pytest.mark.parametrize("name", ["claims.md", "paper_comparison.md"])
def test_the_readme_quotes_each_published_verdict_count_verbatim(docs, name):
    sentence = next(line for line in (docs / name).read_text().splitlines() if line.startswith("**"))
    count = sentence.strip("*.")
    if name == "paper_comparison.md" and count.startswith("No verdict"):
        return  # one seed: nothing to count, the README says so in words
    assert count in " ".join(readme_results().split()), f"the README does not quote {docs.name}/{name}: {count}"


def test_the_readme_quotes_the_forensics_verdict_verbatim():
    sentence = next(line for line in (FORENSICS / "forensics.md").read_text().splitlines() if line.startswith("**"))
    assert sentence.strip("*.") in " ".join(readme_results().split()), "the README does not quote forensics.md"


def test_every_percentage_in_the_readme_results_comes_from_a_linked_generated_file():
    import re

    section = readme_results()
    linked = set(re.findall(r"\]\((docs/[^)]+\.md)\)", section))
    assert linked, "the results section links no generated file"
    sources = " ".join((REPO / path).read_text() for path in linked)
    quoted = re.findall(r"(\d+\.\d+)%", section)
    assert quoted
    for number in quoted:
        assert re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", sources), f"README quotes {number}% from nowhere"


def test_the_committed_2d_sweep_is_its_runs_summary_and_heatmap_without_verdicts(tmp_path):
    from mnist_lr_batch.aggregate import summary_table, write_csv

    write_csv(summary_table(pd.read_csv(SWEEP2D / "runs.csv")), tmp_path / "summary.csv")
    assert (tmp_path / "summary.csv").read_text() == (SWEEP2D / "summary.csv").read_text()
    assert (SWEEP2D / "figures" / "heatmap_sweep2d.png").is_file()
    assert not (SWEEP2D / "claims.md").exists() and not (SWEEP2D / "paper_comparison.md").exists()


@pytest.mark.parametrize("docs", [*PUBLISHED, SWEEP2D, FORENSICS], ids=lambda path: path.name)
def test_the_published_curves_are_the_published_runs(docs):
    """epochs.csv (what a rerun is verified against) and runs.csv come from the same runs: each run's
    best epoch accuracy is the maximum of its curve, and no run is in one table only."""
    runs = pd.read_csv(docs / "runs.csv").drop_duplicates("run_file").set_index("run_file")
    curves = pd.read_csv(docs / "epochs.csv").groupby("run_file")
    assert set(curves.groups) == set(runs.index)
    best = curves["val_accuracy"].max()
    assert (best == runs.loc[best.index, "best_val_accuracy"]).all()
    assert (curves["epoch"].max() == runs.loc[best.index, "epochs_run"]).all()
