"""`scanflow check`: a Rich table, JSON and HTML written, exit 1 on drift for CI gates."""

import json

from typer.testing import CliRunner

from scanflow.cli import app

from .data import mixed_table

runner = CliRunner()


def _files(tmp_path):
    mixed_table(600, seed=0).to_csv(tmp_path / "ref.csv", index=False)
    mixed_table(150, seed=1).to_csv(tmp_path / "same.csv", index=False)
    drifted = mixed_table(150, seed=2, shift=1.0)
    drifted.loc[:20, "city"] = "atlantis"
    drifted.to_csv(tmp_path / "cur.csv", index=False)


def test_drift_exits_1_with_table_json_and_report(tmp_path):
    _files(tmp_path)
    result = runner.invoke(app, ["check", "--reference", "ref.csv", "--current", "cur.csv"])
    assert result.exit_code == 1, result.output
    assert "drift" in result.output and "income" in result.output
    written = json.loads((tmp_path / "scanflow-check.json").read_text())
    assert written["verdict"] == "drift"
    assert {f["feature"] for f in written["features"] if f["drifted"]} == {"income", "city"}
    html = (tmp_path / "scanflow-check.html").read_text()
    assert "<svg" in html and "atlantis" in html and 'class="verdict drift"' in html


def test_no_drift_exits_0_and_options_reach_the_detector(tmp_path):
    _files(tmp_path)
    args = [
        "check",
        "-r",
        "ref.csv",
        "-c",
        "same.csv",
        "-d",
        "ks",
        "-o",
        "correction=fdr",
        "-o",
        "alpha=0.01",
    ]
    result = runner.invoke(app, [*args, "--json", "out/result.json", "--save-checker", "saved"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out/result.json").read_text())["threshold"] == 0.01
    again = runner.invoke(
        app, ["check", "-c", "cur.csv", "-d", "saved"]
    )  # a saved checker needs no reference
    assert again.exit_code == 1


def test_bad_input_exits_2_with_a_clear_message(tmp_path):
    _files(tmp_path)
    missing = runner.invoke(app, ["check", "-r", "ref.csv", "-c", "nope.csv"])
    assert missing.exit_code == 2 and "nope.csv' does not exist" in missing.output
    unknown = runner.invoke(app, ["check", "-r", "ref.csv", "-c", "cur.csv", "-d", "magic"])
    assert unknown.exit_code == 2 and "no checker named 'magic'" in unknown.output
    no_reference = runner.invoke(app, ["check", "-c", "cur.csv"])
    assert no_reference.exit_code == 2 and "give a reference dataset" in no_reference.output
    integrity = runner.invoke(app, ["check", "-r", "ref.csv", "-c", "cur.csv", "-d", "integrity"])
    assert integrity.exit_code == 1 and "atlantis" in integrity.output


def test_saving_a_checker_over_a_file_says_it_takes_a_folder(tmp_path):
    _files(tmp_path)
    (tmp_path / "taken").write_text("notes")
    result = runner.invoke(app, ["check", "-r", "ref.csv", "-c", "same.csv", "--save-checker", "taken"])
    assert result.exit_code == 2
    assert "'taken' is a file: a checker is saved as a folder" in " ".join(result.output.split())
    assert (tmp_path / "taken").read_text() == "notes"
