"""The Python examples of README.md and docs/*.md run as written: each ```python block is one test case,
named by its page and its number on that page (`docs/evaluation.md:3` is the page's third block).

A block runs in a fresh, empty working directory with its own user cache, so whatever it writes lands
there; the built-in datasets are found as the product finds them ($CGAN_DATA_DIR, set to the data the
`shared_data` fixture found). Where a block names one of these paths, it is there:

- `runs/mnist`: a copy of the tiny MNIST run (the `tiny_run` fixture of conftest.py);
- `photos/`: a small folder of colour images of three classes, `ankle boot`, `cat` and `Crème brûlée`
  (the folder layout of docs/data.md).

Without the datasets, a block that needs them is skipped, as the other data tests are. A block that cannot
run in a test (it starts a server, trains for minutes, needs torchrun or a GPU) says so on the line before
its fence, and is skipped with that reason:

    <!-- docs-test: skip (starts a server) -->
    ```python
"""

from __future__ import annotations

import re
import shutil
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cgan.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(?P<indent> *)```\s*(?P<lang>[^`\s]*)[^`]*$")
MARKER = re.compile(r"<!--\s*docs-test:(?P<body>.*?)-->")
SKIP = re.compile(r"^\s*skip\s*\((?P<reason>[^()]+)\)\s*$")
PYTHON = {"python", "py", "python3"}


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository, as the test id shows it
    number: int  # 1 for the page's first Python block
    line: int  # the line of its opening fence
    code: str
    skip: str | None  # the reason of its skip marker

    def __str__(self) -> str:
        return f"{self.page}:{self.number}"


def parse(text: str, page: str) -> tuple[list[Block], list[str]]:
    """The page's Python blocks, and what is wrong with its docs-test markers: one that is not on the line
    just before a Python block's fence, or says something other than `skip (reason)`."""
    blocks: list[Block] = []
    problems: list[str] = []
    lines = text.splitlines()
    fence: re.Match | None = None  # the opening fence of the block we are in
    start = 0
    markers: dict[int, str] = {}  # line index -> the marker's body, until a Python fence takes it
    for index, line in enumerate(lines):
        match = FENCE.match(line)
        if fence is None:
            if match is None:
                for marker in MARKER.finditer(line):
                    markers[index] = marker.group("body")
                continue
            fence, start = match, index
        elif (
            match is not None
            and not match.group("lang")
            and len(match.group("indent")) <= len(fence.group("indent"))
        ):
            if fence.group("lang").lower() in PYTHON:
                body = markers.pop(start - 1, None)
                skip = SKIP.match(body) if body is not None else None
                if body is not None and skip is None:
                    problems.append(f"{page}:{start}: write <!-- docs-test: skip (reason) -->, not {body!r}")
                indent = len(fence.group("indent"))
                code = "\n".join(text_line[indent:] for text_line in lines[start + 1 : index])
                number = len(blocks) + 1
                reason = skip.group("reason").strip() if skip else None
                blocks.append(Block(page, number, start + 1, code + "\n", reason))
            fence = None
    problems += [
        f"{page}:{index + 1}: a docs-test marker not just before a ```python fence" for index in markers
    ]
    if fence is not None:
        problems.append(f"{page}:{start + 1}: a code block that is never closed")
    return blocks, problems


def page_blocks() -> tuple[list[Block], list[str]]:
    blocks: list[Block] = []
    problems: list[str] = []
    for page in PAGES:
        found, wrong = parse(page.read_text(encoding="utf-8"), page.relative_to(ROOT).as_posix())
        blocks += found
        problems += wrong
    return blocks, problems


BLOCKS, PROBLEMS = page_blocks()
# One thread: the evaluation examples took twice as long or more with two on a shared 2-core machine.
pytestmark = pytest.mark.usefixtures("one_thread")


def make_photos(folder: Path) -> None:
    """docs/data.md's image folder, small: 4 colour images of 48 x 40 pixels in each of three classes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("ankle boot", "cat", "Crème brûlée"):
        (folder / name).mkdir(parents=True)
        for number in range(4):
            pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{number:04}.png")


def shifted(code: types.CodeType, lines: int) -> types.CodeType:
    """`code` (and the functions in it) moved down by `lines`, so that a traceback names the page's lines
    and shows the block, not the page from its top."""
    consts = tuple(shifted(c, lines) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_firstlineno=code.co_firstlineno + lines, co_consts=consts)


def found_data(request) -> Path | None:
    """The folder holding the built-in datasets, or None where the `shared_data` fixture finds none."""
    try:
        return request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        return None


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_docs_example_runs(block: Block, request, tmp_path, monkeypatch):
    if block.skip:
        pytest.skip(block.skip)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))  # a folder's decoded images, checksums
    data = found_data(request)
    if data is not None:
        monkeypatch.setenv("CGAN_DATA_DIR", str(data))
    if "runs/mnist" in block.code:
        shutil.copytree(request.getfixturevalue("tiny_run"), tmp_path / "runs" / "mnist")
    if "photos/" in block.code:
        make_photos(tmp_path / "photos")
    code = shifted(compile(block.code, str(ROOT / block.page), "exec"), block.line)
    try:
        exec(code, {"__name__": "__main__"})
    except DataError:
        if data is None:
            pytest.skip("no mnist or fashion-mnist data: run `cgan data download NAME` or set CGAN_DATA_DIR")
        raise


def test_the_docs_have_python_examples_and_well_formed_markers():
    assert len(BLOCKS) >= 5, [str(block) for block in BLOCKS]
    assert not PROBLEMS, "\n".join(PROBLEMS)


def test_a_skip_marker_skips_the_block_after_it_only():
    text = """Intro.

```python
print("runs")
```

<!-- docs-test: skip (starts a server) -->
```python
serve()
```

```bash
cgan serve
```

  ```py
  indented()
  ```
"""
    blocks, problems = parse(text, "page.md")
    assert problems == []
    assert [(b.number, b.line, b.skip, b.code) for b in blocks] == [
        (1, 3, None, 'print("runs")\n'),
        (2, 8, "starts a server", "serve()\n"),
        (3, 16, None, "indented()\n"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "<!-- docs-test: skip (reason) -->\n\n```python\nx = 1\n```\n",  # not on the line before
        "<!-- docs-test: skip (reason) -->\n```bash\nls\n```\n",  # not a Python block
        "<!-- docs-test: skip -->\n```python\nx = 1\n```\n",  # no reason
        "<!-- docs-test: run slowly -->\n```python\nx = 1\n```\n",  # not a skip
        "```python\nx = 1\n",  # never closed
    ],
)
def test_a_misplaced_or_malformed_marker_is_a_problem(text):
    assert parse(text, "page.md")[1]
