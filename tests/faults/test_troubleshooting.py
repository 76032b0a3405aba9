"""docs/troubleshooting.md and the fault suite name each other: a row per fault test, a test per row.

The rows' symptoms are checked by the tests themselves (`assert_documented`, on the run they make);
here, that every test does so and that the table and the suite list the same faults.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

from faults.conftest import TROUBLESHOOTING, troubleshooting_rows

HERE = Path(__file__).parent


def fault_tests() -> dict[str, ast.FunctionDef]:
    """file::function -> its definition, for every test function of the fault suite but this file's."""
    tests = {}
    for module in sorted(HERE.glob("test_*.py")):
        if module.name == Path(__file__).name:
            continue
        for node in ast.parse(module.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                tests[f"{module.name}::{node.name}"] = node
    return tests


def test_every_fault_test_has_a_row_and_every_row_names_fault_tests():
    named = [test for row in troubleshooting_rows() for test in row["tests"]]
    assert len(troubleshooting_rows()) >= 9 and all(row["tests"] for row in troubleshooting_rows())
    assert set(named) == set(fault_tests()), "the table and tests/faults list different faults"


def test_every_fault_test_checks_its_rows_symptom_on_its_own_run():
    for test, definition in fault_tests().items():
        calls = {node.func.id for node in ast.walk(definition)
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        assert "assert_documented" in calls, f"{test} does not check its row of {TROUBLESHOOTING.name}"


def test_every_row_has_a_cause_and_a_remedy_and_the_readme_links_the_table():
    for row in troubleshooting_rows():
        assert row["cause"] and row["remedy"], row
    assert "docs/troubleshooting.md" in (REPO / "README.md").read_text()
