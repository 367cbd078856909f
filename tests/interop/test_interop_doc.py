"""Every python block of docs/INTEROP.md runs (skipped where its `# needs:` package is absent)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "INTEROP.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def _title(i: int, code: str) -> str:
    heading = DOC.read_text().split(code)[0].rsplit("\n## ", 1)[-1].splitlines()[0]
    return f"{i}-{re.sub(r'[^a-z]+', '-', heading.lower()).strip('-')}"


@pytest.mark.parametrize("code", BLOCKS, ids=[_title(i, c) for i, c in enumerate(BLOCKS)])
def test_doc_example_runs(code: str) -> None:
    first = code.splitlines()[0]
    if first.startswith("# needs:"):
        for package in first.split(":", 1)[1].split(","):
            if importlib.util.find_spec(package.strip()) is None:
                pytest.skip(f"{package.strip()} is not installed (see Makefile interop)")
    exec(compile(code, str(DOC), "exec"), {"__name__": "interop_doc"})


def test_the_page_has_its_examples() -> None:
    assert len(BLOCKS) >= 8
