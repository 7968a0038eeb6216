"""What the `scanflow` command prints keeps every character: Rich markup never eats brackets.

Help texts and messages are rendered with Rich, where ``[word]`` is a style
tag: unescaped, ``pip install 'scanflow[serve]'`` would print as
``pip install 'scanflow'`` and a file ``[a].py`` as ``.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import typer
from rich.text import Text
from typer.testing import CliRunner

from scanflow.cli import app


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
