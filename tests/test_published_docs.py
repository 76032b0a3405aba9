"""The committed docs/ are what the code generates from their runs, and the README quotes them exactly."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import REPO

from mnist_lr_batch import publish

PUBLISHED = [REPO / "docs" / "full_run"]
GENERATED = ["summary.csv", "paper_comparison.csv", "paper_comparison.md", "claims.csv", "claims.md"]


@pytest.mark.parametrize("docs", PUBLISHED, ids=lambda path: path.name)
def test_committed_verdicts_are_regenerated_exactly_from_the_committed_runs(docs, tmp_path):
    publish.write_verdicts(pd.read_csv(docs / "runs.csv"), tmp_path, pd.read_csv(publish.REPORTED))
    for name in GENERATED:
        assert (tmp_path / name).read_text() == (docs / name).read_text(), (
            f"{docs / name} is stale: python -m mnist_lr_batch.publish --docs {docs.relative_to(REPO)}")


def test_the_committed_forensics_are_regenerated_exactly_from_their_runs(tmp_path):
    from mnist_lr_batch import forensics

    docs = REPO / "docs" / "forensics"
    text = forensics.forensics(pd.read_csv(docs / "runs.csv"), pd.read_csv(publish.REPORTED),
                               {"sklearn_recipe": "learning_rate"})
    assert text == (docs / "forensics.md").read_text()


def test_publish_copies_a_finished_run(tmp_path):
    results = tmp_path / "results"
    (results / "figures").mkdir(parents=True)
    (results / "runs.csv").write_text((PUBLISHED[0] / "runs.csv").read_text())
    (results / "figures" / "figure.png").write_bytes(b"png")
    assert publish.main(["--results", str(results), "--docs", str(tmp_path / "docs")]) == 0
    assert (tmp_path / "docs" / "figures" / "figure.png").read_bytes() == b"png"
    assert {path.name for path in (tmp_path / "docs").iterdir()} == {"runs.csv", "figures", *GENERATED}
    with pytest.raises(SystemExit):
        publish.main(["--results", str(tmp_path / "missing"), "--docs", str(tmp_path / "docs")])
