"""What a person sees while a workflow runs: live step states and the steps' own output.

Every step writes its output to a log file; one tailer thread follows the files
of running steps and prints new lines with the step's name in front. On a
terminal a live table shows each step's state and duration; elsewhere (CI,
pipes) the same facts come as plain lines.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from scanflow import follow
from scanflow.graph import Graph, Step
from scanflow.run.failure import tail_lines
from scanflow.run.listener import RunListener
from scanflow.run.state import RunState
from scanflow.run.status import RunStatus, StepRecord, StepStatus

STYLES = {
    StepStatus.PENDING: ("·", "dim"),
    StepStatus.RUNNING: ("▶", "cyan"),
    StepStatus.DONE: ("✔", "green"),
    StepStatus.CACHED: ("✔", "green"),
    StepStatus.FAILED: ("✘", "red"),
    StepStatus.SKIPPED: ("↷", "yellow"),
    StepStatus.CANCELLED: ("■", "magenta"),
}
_PALETTE = ["cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta", "bright_green"]
_LIVE_ROWS = 20


def format_duration(seconds: float | None) -> str:
    """``16ms``, ``2.5s``, ``3m05s``, ``1h02m``: a quick step is not shown as taking 0.0s."""
    if seconds is None:
        return ""
    if seconds < 0.1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


_CHUNKS_PER_LOOK = 8


class _LogTailer:
    """Follows the log files of running steps and prints their new lines."""

    def __init__(self, console: Console, interval: float = 0.1):
        self.console = console
        self.interval = interval
        self._files: dict[str, tuple[Path, int, str]] = {}  # key -> (path, offset, colour)
        self._lock = threading.Lock()
        # One reader at a time: `finish` must start where the follower's last print ended, or
        # the lines it was printing as the step ended would be printed twice.
        self._printing = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="log-tailer", daemon=True)
        self._colours = 0

    def start(self) -> None:
        self._thread.start()

    def follow(self, key: str, path: Path) -> None:
        """Print what ``key`` writes to ``path`` from now on (not what earlier attempts wrote)."""
        try:
            offset = path.stat().st_size
        except OSError:
            offset = 0
        with self._lock:
            if key not in self._files:
                self._files[key] = (path, offset, _PALETTE[self._colours % len(_PALETTE)])
                self._colours += 1

    def finish(self, key: str) -> None:
        """Print what is left of a finished step's log and stop following it."""
        with self._printing:
            with self._lock:
                entry = self._files.pop(key, None)
            if entry:
                self._print_new(key, *entry, final=True)

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                keys = list(self._files)
            for key in keys:
                with self._printing:
                    with self._lock:
                        entry = self._files.get(key)
                    if entry is None:  # finished meanwhile, and printed to the end
                        continue
                    offset = self._print_new(key, *entry)
                    with self._lock:
                        if key in self._files:
                            self._files[key] = (entry[0], offset, entry[2])

    def _print_new(self, key: str, path: Path, offset: int, colour: str, final: bool = False) -> int:
        """Print the complete lines written since ``offset`` (everything, when ``final``); the new offset.

        The log is read a chunk at a time: a step writing faster than the console
        prints must not make this process hold its whole output. A follow-up call
        reads a few chunks, so one loud step does not hold back the others' lines.
        """
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below, whichever way the loop ends
        except OSError:
            return offset
        with handle:
            handle.seek(offset)
            for _ in itertools.count() if final else range(_CHUNKS_PER_LOOK):
                chunk = handle.read(follow.CHUNK)
                if not chunk:
                    break
                full = len(chunk) == follow.CHUNK
                cut = chunk.rfind(b"\n") + 1
                if (final and not full) or (cut == 0 and full):  # the end, or a line longer than a chunk
                    cut = len(chunk)
                if cut == 0:  # a partial last line: printed once it is complete
                    break
                self._print_lines(key, colour, chunk[:cut])
                offset += cut
                handle.seek(offset)
        return offset

    def _print_lines(self, key: str, colour: str, data: bytes) -> None:
        lines = data.decode(errors="replace").splitlines()
        if self.console.is_terminal:  # coloured names, printed above the live table
            block = Text()
            for line in lines:
                if block:
                    block.append("\n")
                block.append(f"{key} │ ", style=colour)
                block.append(line)
            self.console.print(block, soft_wrap=True, highlight=False)
        else:  # a file or a pipe (CI): plain text, as fast as the step writes it
            self.console.file.write("".join(f"{key} │ {line}\n" for line in lines))
            self.console.file.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for key in list(self._files):
            self.finish(key)


class ConsoleView(RunListener):
    """Shows a run in the terminal; ``stream_logs=False`` keeps step output in files only."""

    def __init__(self, console: Console | None = None, stream_logs: bool = True, live: bool | None = None):
        self.console = console or Console(stderr=False)
        self.stream_logs = stream_logs
        self.live_enabled = self.console.is_terminal if live is None else live
        self._tailer = _LogTailer(self.console)
        self._live: Live | None = None
        self._graph: Graph | None = None
        self._state: RunState | None = None
        self._keys: list[str] = []

    # ---------------------------------------------------------------- hooks
    def run_started(self, state: RunState, graph: Graph, keys: list[str]) -> None:
        self._graph, self._state, self._keys = graph, state, keys
        resumed = f" (resume #{state.resumes})" if state.resumes else ""
        self.console.print(
            f"[bold]Running workflow[/] [cyan]{state.workflow}[/] run [bold]{state.run_id}[/]{resumed}:"
            f" {len(keys)} step(s) on {state.backend}"
        )
        if self.stream_logs:
            self._tailer.start()
        if self.live_enabled:
            self._live = Live(
                console=self.console, refresh_per_second=8, transient=True, get_renderable=self._render
            )
            self._live.start()

    def step_started(self, step: Step, record: StepRecord) -> None:
        if self.stream_logs and record.log_path:
            self._tailer.follow(step.key, Path(record.log_path))
        if not self.live_enabled and record.attempts == 1:
            self.console.print(Text(f"▶ {step.key} started", style="cyan"))
        self._refresh()

    def step_retrying(self, step: Step, record: StepRecord, delay: float) -> None:
        self.console.print(
            Text(
                f"↻ {step.key} attempt {record.attempts} failed ({record.reason}); retrying in {delay:g}s",
                style="yellow",
            )
        )

    def step_finished(self, step: Step, record: StepRecord) -> None:
        if self.stream_logs:
            self._tailer.finish(step.key)
        icon, style = STYLES[record.status]
        detail = format_duration(record.duration) if record.status.succeeded else (record.reason or "")
        label = "done" if record.status is StepStatus.DONE else record.status.value
        self.console.print(
            Text(f"{icon} {step.key} {label}" + (f" ({detail})" if detail else ""), style=style)
        )
        if record.status is StepStatus.FAILED and record.log_path:  # a step that never started has no log
            self._show_failure(step, record)
        self._refresh()

    def run_finished(self, state: RunState) -> None:
        if self.stream_logs:
            self._tailer.stop()
        if self._live is not None:
            self._live.stop()
            self._live = None
        self.console.print(self._summary(state))

    # ------------------------------------------------------------- drawing
    def _show_failure(self, step: Step, record: StepRecord) -> None:
        lines = tail_lines(record.log_path, start=record.log_offset)
        body = "\n".join(lines) if lines else "(the step wrote nothing)"
        title = f"{step.key} failed: {record.reason}"
        subtitle = f"log: {record.log_path}"
        self.console.print(Panel(Text(body), title=title, subtitle=subtitle, border_style="red"))

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def _render(self) -> Group:
        assert self._state is not None
        records = [self._state.step(k) for k in self._keys]
        counts = {s: sum(r.status is s for r in records) for s in StepStatus}
        header = Text.assemble(
            *((f"{STYLES[s][0]} {counts[s]} {s.value}  ", STYLES[s][1]) for s in StepStatus if counts[s])
        )
        table = Table(box=None, show_header=False, pad_edge=False)
        # Small runs show every step; large ones the running steps (the header counts the rest).
        shown = (
            records if len(records) <= _LIVE_ROWS else [r for r in records if r.status is StepStatus.RUNNING]
        )
        for record in shown[:_LIVE_ROWS]:
            icon, style = STYLES[record.status]
            if record.status is StepStatus.RUNNING and record.started_at:
                elapsed = time.time() - record.started_at
            else:
                elapsed = record.duration
            note = record.reason or "" if not record.status.succeeded else ""
            table.add_row(
                Text(icon, style=style),
                record.key,
                Text(record.status.value, style=style),
                format_duration(elapsed),
                Text(note, style="dim"),
            )
        return Group(header, table)

    def _summary(self, state: RunState) -> Group:
        return run_summary(state, self._keys)


def run_summary(state: RunState, keys: list[str] | None = None) -> Group:
    """The run's outcome and a table of its steps (``keys``, or all): the end of `scanflow run`."""
    colour = {RunStatus.SUCCEEDED: "green", RunStatus.FAILED: "red"}.get(state.status, "magenta")
    started = state.resumed_at or state.created_at  # a resume counts its own time
    total = format_duration((state.ended_at or time.time()) - started)
    title = Text.from_markup(
        f"[bold]{state.workflow}[/] run [bold]{state.run_id}[/]: [{colour}]{state.status.value}[/] in {total}"
    )
    table = Table()
    table.add_column("step", overflow="fold")  # a long step path wraps, whole, rather than being cut
    table.add_column("status", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("note", overflow="fold")
    records = [state.step(k) for k in (keys if keys is not None else list(state.steps))]
    left_out = ""
    if len(records) > 40:  # a large DAG: list only what needs attention
        attention = [r for r in records if not r.status.succeeded]
        succeeded = len(records) - len(attention)
        if not attention:
            return Group(title, Text(f"all {succeeded} steps succeeded", style="green"))
        records, left_out = attention, f"and {succeeded} more steps that succeeded"
    for record in records:
        icon, style = STYLES[record.status]
        table.add_row(
            record.key,
            Text(f"{icon} {record.status.value}", style=style),
            format_duration(record.duration),
            str(record.attempts or ""),
            Text(record.reason or ""),
        )
    return Group(title, table, Text(left_out, style="dim")) if left_out else Group(title, table)
