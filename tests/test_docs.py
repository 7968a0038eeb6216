"""The workflow YAML shown in the README and the docs is valid: readers copy it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scanflow.spec import Workflow

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def workflow_blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in re.finditer(r"```yaml\n(.*?)```", text, flags=re.S):
            block = match.group(1)
            if re.search(r"^nodes:", block, flags=re.M):
                line = text[: match.start()].count("\n") + 2
                found.append((page.name, line, block))
    return found


@pytest.mark.parametrize(("page", "line", "block"), workflow_blocks(), ids=lambda v: str(v)[:30])
def test_workflow_yaml_in_the_docs_is_valid(page: str, line: int, block: str) -> None:
    workflow = Workflow.from_yaml_string(block)  # no base folder: files are not looked for
    assert workflow.nodes, f"{page}:{line}"


def test_the_docs_show_workflows() -> None:
    assert len(workflow_blocks()) >= 3
