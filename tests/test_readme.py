"""The README's test command is what CI runs: keep the two from drifting apart."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = next(line for line in ci_lines if "pytest" in line)
    assert command in readme


def test_ci_points_the_tests_at_the_data_and_the_readme_says_how_to_get_it():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    export = next(i for i, line in enumerate(ci_lines) if line.startswith("export CGAN_DATA_DIR="))
    assert export < next(i for i, line in enumerate(ci_lines) if "pytest" in line)
    readme = (ROOT / "README.md").read_text()
    assert "cgan data download mnist" in readme and "cgan data download fashion-mnist" in readme
