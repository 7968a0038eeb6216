"""Labelling in the terminal, for machines without a browser (over SSH, in a container).

Same session as the web page: each sample is printed (an image as shades of
characters, a table row as name/value pairs) with the model's prediction and
the reason it was picked; the person types a label, ``s`` to skip, ``u`` to
undo, ``q`` to stop. Labels are saved one by one, so stopping loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from scanflow.interact.render import SampleView
from scanflow.interact.session import LabellingSession
from scanflow.interact.store import LabelStoreError


def label_in_terminal(
    session: LabellingSession,
    console: Console | None = None,
    ask: Callable[[str], str] = input,
) -> int:
    """Label samples until the queue is empty (or ``q``); return how many were labelled or skipped."""
    console = console or Console()
    done = 0
    while True:
        view = session.next()
        if view is None:
            counts = session.progress().to_json()
            others = (
                f" {counts['with_others']} more are with other labellers." if counts["with_others"] else ""
            )
            console.print(
                f"[green]Queue '{session.queue.name}' is done[/]:"
                f" {counts['labelled']} labelled, {counts['skipped']} skipped.{others}"
            )
            return done
        _show(console, view, session)
        try:
            answer = ask("label> ").strip()
        except (EOFError, KeyboardInterrupt):
            answer = "q"
        if answer in ("q", "quit", "exit"):
            session.release()  # the sample on screen goes to the next person at once
            return done
        if answer == "u":
            undone = session.undo()
            console.print(f"undid {undone.sample_ref}" if undone else "nothing to undo")
            done -= 1 if undone else 0
            continue
        try:
            if answer == "s":
                session.skip(view.item.id)
            else:
                value = session.shortcut(answer) if answer.isdigit() else None
                session.label(view.item.id, answer if value is None else value)
            done += 1
        except LabelStoreError as error:
            console.print(f"[red]{escape(str(error))}[/]")


def _show(console: Console, view: SampleView, session: LabellingSession) -> None:
    batch = session.progress()
    item = view.item
    position = f"{batch.progress.done + 1} of {batch.progress.total}"
    console.rule(f"batch {batch.batch}: {position}  ·  sample {item.sample_ref}")
    if view.is_image:
        console.print(view.text_image(), highlight=False)
    else:
        table = Table(show_header=False, box=None)
        for name, value in view.rows():
            table.add_row(Text(str(name), style="dim"), Text(str(value)))
        console.print(table)
    if item.prediction is not None:
        confidence = "" if item.confidence is None else f" ({item.confidence:.0%} confident)"
        console.print(f"model says [bold]{escape(str(item.prediction))}[/]{confidence}")
    console.print(f"[dim]why: {escape(str(item.reason))} — {item.strategy}[/]")
    classes = ", ".join(str(c) for c in session.queue.classes)
    console.print(f"[dim]type a label ({escape(classes)}), s skip, u undo, q quit[/]")
