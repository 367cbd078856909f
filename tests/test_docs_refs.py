"""Every ``docs/METHOD.md §N`` reference in the repository names a section that exists.

Code, tests, benchmarks and the markdown files cite the method by section (``docs/METHOD.md
§2.2``, ``§1-3``, ``§1.2 and §3``). This test reads the numbered headings of docs/METHOD.md
(``## 1. ...``, ``### 1.1 ...``) and fails, naming ``file:line``, on a reference to a section
that is not there, on a reference to the method file without its ``docs/`` path, and on a
reference to a file outside the repository (the paper notes the project was written from).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHOD = ROOT / "docs" / "METHOD.md"
SCANNED_DIRS = ("src", "tests", "benchmarks")
SUFFIXES = {".py", ".md", ".sh", ".cpp", ".c", ".h", ".cu", ".txt", ".toml", ".yaml", ".yml"}

_HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)*)\.?\s")
_NUM = r"\d+(?:\.\d+)?"
# "METHOD.md §2.2", "METHOD.md §1-3", "METHOD.md §1.2 and §3", "METHOD.md §5.4, §6"
_REF = re.compile(rf"METHOD\.md §({_NUM}(?:(?:-|, | and | or )§?{_NUM})*)")
_REF_PART = re.compile(rf"(-)?§?({_NUM})")
# inside docs/METHOD.md itself a bare "§5.3" means its own section (not "DEPLOY.md §1")
_BARE_REF = re.compile(rf"(?<![A-Za-z]\.md )§({_NUM})")
_METHOD_FILE = re.compile(r"[\w./-]*method\.md", re.IGNORECASE)
_OUTSIDE = re.compile(r"\.\./shared|/work/|shared/method", re.IGNORECASE)
_ANCHOR_LINK = re.compile(r"\]\((?:[\w./-]*METHOD\.md)?#([^)\s]+)\)")


def method_sections(text: str) -> set[str]:
    """The section numbers of the numbered ``##`` / ``###`` headings of a markdown text."""
    return {m.group(1) for line in text.splitlines() if (m := _HEADING.match(line))}


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors of a markdown text's headings (lower case, punctuation dropped)."""
    anchors = set()
    for line in text.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def referenced_sections(line: str) -> list[str]:
    """Every section a line cites as ``METHOD.md §...``; a range ``§1-3`` gives both ends."""
    found = []
    for ref in _REF.finditer(line):
        found.extend(part.group(2) for part in _REF_PART.finditer(ref.group(1)))
    return found


def line_problems(line: str, sections: set[str], *, in_docs: bool = False) -> list[str]:
    """What is wrong with the method references of one line (empty when nothing)."""
    problems = [
        f"docs/METHOD.md has no section {s}" for s in referenced_sections(line) if s not in sections
    ]
    for m in _METHOD_FILE.finditer(line):
        path = m.group(0)
        # a markdown file in docs/ may link its sibling as "METHOD.md"
        ok = path == "docs/METHOD.md" or (in_docs and path == "METHOD.md")
        if not ok and not line[m.end() :].startswith("#"):
            problems.append(f"{path!r}: cite the method as docs/METHOD.md §N")
        elif not ok:
            problems.append(f"{path!r}: link the method as docs/METHOD.md")
    for m in _OUTSIDE.finditer(line):
        problems.append(f"{m.group(0)!r}: a reference to a file outside the repository")
    return problems


def scanned_files() -> list[Path]:
    """The code, tests, benchmarks and markdown files whose references are checked."""
    files = sorted(ROOT.glob("*.md")) + sorted((ROOT / "docs").glob("*.md"))
    for name in SCANNED_DIRS:
        files += sorted(p for p in (ROOT / name).rglob("*") if p.is_file() and p.suffix in SUFFIXES)
    here = Path(__file__).resolve()
    return [p for p in files if p.resolve() != here and "__pycache__" not in p.parts]


def repository_problems() -> list[str]:
    """``file:line: problem`` for every reference in the repository that does not resolve."""
    method_text = METHOD.read_text(encoding="utf-8")
    sections = method_sections(method_text)
    anchors = heading_anchors(method_text)
    problems = []
    for path in scanned_files():
        rel = path.relative_to(ROOT).as_posix()
        in_docs = rel.startswith("docs/")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found = line_problems(line, sections, in_docs=in_docs)
            if rel == "docs/METHOD.md":
                found += [
                    f"no section {m.group(1)}"
                    for m in _BARE_REF.finditer(line)
                    if m.group(1) not in sections
                ]
                found += [
                    f"no heading for the anchor #{m.group(1)}"
                    for m in _ANCHOR_LINK.finditer(line)
                    if m.group(1) not in anchors
                ]
            problems += [f"{rel}:{number}: {p}" for p in found]
    return problems


def test_method_has_numbered_sections() -> None:
    sections = method_sections(METHOD.read_text(encoding="utf-8"))
    assert {"1", "2", "3", "4", "5", "6"} <= sections, sorted(sections)


def test_every_method_reference_resolves() -> None:
    problems = repository_problems()
    assert not problems, "unresolved method references:\n" + "\n".join(problems)


def test_references_are_found_at_all() -> None:
    """The scan sees the code's references (a pattern that matched nothing would pass anything)."""
    refs = [
        s
        for p in scanned_files()
        for line in p.read_text(encoding="utf-8").splitlines()
        for s in referenced_sections(line)
    ]
    assert len(refs) >= 30, f"only {len(refs)} references found"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"""TrLIF (docs/METHOD.md §1-3)."""', []),
        ("see docs/METHOD.md §1.2 and §3, or §2.2", []),
        ("(docs/METHOD.md §5.4, §6)", []),
        ("(docs/METHOD.md §9)", ["docs/METHOD.md has no section 9"]),
        ("(docs/METHOD.md §1.7)", ["docs/METHOD.md has no section 1.7"]),
        ("(docs/METHOD.md §1-8)", ["docs/METHOD.md has no section 8"]),
        ("(docs/METHOD.md §1.2 and §4.9)", ["docs/METHOD.md has no section 4.9"]),
        ("as method.md 2 says", ["'method.md': cite the method as docs/METHOD.md §N"]),
        (
            "see ../shared/method.md",
            [
                "'../shared/method.md': cite the method as docs/METHOD.md §N",
                "'../shared': a reference to a file outside the repository",
            ],
        ),
        ("cf. /work/notes.txt", ["'/work/': a reference to a file outside the repository"]),
    ],
)
def test_line_problems(line: str, expected: list[str]) -> None:
    sections = {"1", "1.1", "1.2", "2", "2.2", "3", "4", "5", "5.4", "6"}
    assert line_problems(line, sections) == expected


def test_sections_and_anchors_are_parsed() -> None:
    text = "# Title\n## 1. Neuron (`TrLIF`)\n### 1.1 Tau\n## 2. MP-Init: the mean\n"
    assert method_sections(text) == {"1", "1.1", "2"}
    assert "1-neuron-trlif" in heading_anchors(text)
    assert "2-mp-init-the-mean" in heading_anchors(text)
