"""What the `scanflow` command prints keeps every character: Rich markup never eats brackets.

Help texts and messages are rendered with Rich, where ``[word]`` is a style
tag: unescaped, ``pip install 'scanflow[serve]'`` would print as
``pip install 'scanflow'`` and a file ``[a].py`` as ``.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import typer
from rich.text import Text
from typer.testing import CliRunner

from scanflow.cli import app


def flat(text: str) -> str:
    """Output as one line: table cells that wrap join up again."""
    return " ".join(text.split())


def help_texts(command, path: str = "scanflow") -> Iterator[tuple[str, str]]:  # noqa: ANN001 - a click command
    yield path, command.help or ""
    for parameter in command.params:
        yield f"{path} {parameter.name}", getattr(parameter, "help", None) or ""
    for name, sub in getattr(command, "commands", {}).items():
        yield from help_texts(sub, f"{path} {name}")


def test_every_help_text_shows_all_it_says() -> None:
    eaten = {
        where: text
        for where, text in help_texts(typer.main.get_command(app))
        if Text.from_markup(text).plain != text.replace("\\[", "[")
    }
    assert not eaten, f"markup eats part of these help texts (escape '[' as '\\\\['): {eaten}"
    shown = CliRunner().invoke(app, ["tracker", "up", "--help"], env={"COLUMNS": "200"}).output
    assert "(needs scanflow[server])" in shown


def test_an_error_naming_a_file_with_brackets_shows_its_name(write) -> None:
    write("workflow.yaml", "name: brackets\nnodes:\n  - {executor: a, file: '[a].py'}\n")
    refused = CliRunner().invoke(app, ["validate"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2
    assert "node 'a': script '[a].py' not found" in refused.output


def test_a_check_table_shows_column_names_with_brackets(write) -> None:
    rows = "\n".join(f"{i % 7},{i % 3}" for i in range(60))
    write("reference.csv", f"[age],b\n{rows}\n")
    write("current.csv", "[age],b\n" + "\n".join(f"{50 + i},{i % 3}" for i in range(60)) + "\n")
    shown = CliRunner().invoke(
        app, ["check", "-r", "reference.csv", "-c", "current.csv", "-d", "ks"], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 1, shown.output  # drift
    assert "│ [age]" in shown.output


def test_tables_keep_run_ids_and_step_paths_whole_in_80_columns(write, tracking) -> None:
    long = "a-workflow-with-a-name-long-enough-to-crowd-other-columns-out"
    write("a.py", "print('hi')\n")
    write(
        "workflow.yaml",
        f"name: {long}\nenv_manager: current\nnodes:\n"
        "  - workflow: an-outer-workflow-with-a-long-name\n    nodes:\n"
        "      - {executor: a-step-with-a-rather-long-name-too, file: a.py}\n",
    )
    cli = CliRunner(env={"COLUMNS": "80"})
    ran = cli.invoke(app, ["run", "--tracking-uri", tracking])
    assert ran.exit_code == 0, ran.output
    assert "an-outer-workflow-with-a-long-name/a-step-with-a-rather-long-name-too" in flat(ran.output)
    assert "…" not in ran.output
    [run_id] = [p.name for p in Path(".scanflow/runs").iterdir()]
    listed = cli.invoke(app, ["runs", "--tracking-uri", tracking]).output
    assert run_id in listed and "succeeded" in listed, listed
    workflow_cells = [line.split("│")[2].strip() for line in listed.splitlines() if line.startswith("│")]
    assert "".join(workflow_cells) == long, "the name wraps, whole"


def test_durations_read_at_every_scale() -> None:
    from scanflow.run.console import format_duration

    shown = [format_duration(s) for s in (0.0134, 0.1, 2.54, 185, 3720)]
    assert shown == ["13ms", "0.1s", "2.5s", "3m05s", "1h02m"], "a quick step is not '0.0s'"


def test_the_command_starts_without_the_spec_models() -> None:
    """`scanflow --help` and tab completion stay quick: the CLI loads pydantic models only to use them."""
    import subprocess
    import sys

    heavy = ("scanflow.spec", "pydantic", "mlflow", "numpy", "sqlalchemy")
    code = f"import scanflow.cli, sys; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_steps_output_is_printed_whole_in_order_and_line_by_line(tmp_path: Path, monkeypatch) -> None:
    """The log is read in chunks (a loud step must not fill Scanflow's memory); nothing is lost,
    doubled or broken where a chunk ends, and a partial last line waits until it is complete."""
    import io
    import time

    from rich.console import Console

    from scanflow import follow
    from scanflow.run import console as console_module

    monkeypatch.setattr(follow, "CHUNK", 128)
    out = io.StringIO()
    tailer = console_module._LogTailer(Console(file=out, force_terminal=False, width=300), interval=0.01)
    log = tmp_path / "step.log"
    log.write_text("")
    tailer.follow("s", log)
    tailer.start()
    lines = [f"line {i} " + "x" * (i % 90) for i in range(3000)]
    with open(log, "a") as step:
        step.write("".join(f"{line}\n" for line in lines) + "a partial")
        step.flush()
        deadline = time.monotonic() + 30
        while out.getvalue().count("\n") < len(lines) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert "a partial" not in out.getvalue(), "held back until its end of line"
        step.write(" line\n" + "y" * 300 + "\n")  # a line longer than a chunk: printed in pieces
    tailer.finish("s")
    tailer.stop()
    printed = [line.removeprefix("s │ ") for line in out.getvalue().splitlines()]
    assert printed[: len(lines)] == lines
    assert printed[len(lines)] == "a partial line"
    assert "".join(printed[len(lines) + 1 :]) == "y" * 300


def test_a_log_is_written_out_a_chunk_at_a_time_with_characters_kept_whole(
    tmp_path: Path, monkeypatch
) -> None:
    """`runs log` reads a log as it is written, in pieces; a character split between two is whole."""
    from scanflow import follow

    monkeypatch.setattr(follow, "CHUNK", 7)
    text = "".join(f"étape {i} → ok ✔\n" for i in range(500))
    log = tmp_path / "step.log"
    log.write_text(text)
    pieces: list[str] = []
    follow.follow(log, lambda: False, pieces.append)
    assert "".join(pieces) == text and len(pieces) > 100


def test_the_last_lines_of_a_large_log_are_read_from_its_end(tmp_path: Path) -> None:
    """A failed step's last lines (and its exception) come from the log's end, not a read of all of it."""
    from scanflow.run.failure import failure_reason, tail_lines

    log = tmp_path / "step.log"
    with open(log, "w") as out:
        out.write("older attempt\n")
        start = out.tell()
        out.writelines(f"line {i}\n" for i in range(200_000))
        out.write("Traceback (most recent call last):\n  File 'x.py', line 1\nOSError: disk full\n")
    assert tail_lines(log, count=3) == [
        "Traceback (most recent call last):",
        "  File 'x.py', line 1",
        "OSError: disk full",
    ]
    assert failure_reason("exit code 1", log, start) == "exit code 1: OSError: disk full"
    short = tmp_path / "short.log"
    short.write_text("older attempt\nthis attempt\n")
    assert tail_lines(short, start=len("older attempt\n")) == ["this attempt"], "from the attempt's start"
