"""Generate each lecture's student and instructor notebooks from its one source.

A source, ``homework/source/0N_<name>.ipynb``, is the lecture with its solutions in it
(homework/README.md shows the format):

- in a code cell, the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` are a solution.
  The student version shows ``# YOUR CODE HERE`` and ``raise NotImplementedError`` in their place,
  at the markers' indentation; the instructor version keeps the code and drops the two markers;
- a cell tagged ``solution`` is only in the instructor version, one tagged ``student`` only in the
  student version;
- the instructor version's title ends in " (solutions)" and its Colab badge opens it; as it lives
  one folder deeper, its markdown links to relative paths get one more ``../``;
- in both, the badge opens the release tag, the install cell is written from the repository setting
  and the version (:mod:`labkit.homework.colab`), and lectures that train ask Colab for a GPU.

    python -m labkit.homework.assign            write notebooks/0N_<name>.ipynb (student) and
                                                notebooks/solutions/0N_<name>_solutions.ipynb
    python -m labkit.homework.assign --check    write nothing; exit 1 naming every stale,
                                                missing or source-less generated notebook

Output is deterministic and formatted as Jupyter writes it (``indent=1``, sorted keys), without
outputs; cell ids come from the source, so a change in the source is a small diff in both versions.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path
from typing import Literal

from labkit.homework import colab

ROOT = Path(__file__).resolve().parents[2]  # the repository (labkit is installed editable)
SOURCE_DIR = Path("homework/source")
STUDENT_DIR = Path("notebooks")
INSTRUCTOR_DIR = Path("notebooks/solutions")

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError")
SOLUTION_TAG, STUDENT_TAG = "solution", "student"
# The target of a markdown link or image, ](target), when it is a relative path (no scheme, no
# leading / or #); and the code spans and fences in which ]( is code, not a link.
RELATIVE_LINK = re.compile(r"(\]\()(?![a-zA-Z][\w+.-]*:|[#/])")
CODE_SPAN = re.compile(r"(`+).*?\1")
FENCE = re.compile(r"^\s*(```|~~~)")

Version = Literal["student", "instructor"]


class SourceError(ValueError):
    """A source that cannot be turned into its two versions; the message names the cell."""


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _where(name: str, index: int, cell: dict) -> str:
    cell_id = f" (id {cell['id']})" if "id" in cell else ""
    return f"{name}: cell {index}{cell_id}"


def _marker(line: str) -> str | None:
    """BEGIN or END for a marker line; None for any other line.

    A line that mentions a marker without being exactly one is refused: a typo such as
    ``# BEGIN SOLUTIONS`` would otherwise hand the solution to the students.
    """
    stripped = line.strip()
    if stripped in (BEGIN, END):
        return stripped
    if "BEGIN SOLUTION" in line.upper() or "END SOLUTION" in line.upper():
        raise SourceError(f"{line.strip()!r} is not a marker: write exactly {BEGIN!r} or {END!r}")
    return None


def replace_solutions(code: str, version: Version, where: str = "cell") -> str:
    """``code`` with each BEGIN/END SOLUTION block replaced by the stub (student) or unmarked."""
    out: list[str] = []
    opened: int | None = None  # line number of the open BEGIN
    for number, line in enumerate(code.splitlines(keepends=True), start=1):
        try:
            marker = _marker(line)
        except SourceError as err:
            raise SourceError(f"{where}, line {number}: {err}") from None
        if marker == BEGIN:
            if opened is not None:
                raise SourceError(f"{where}, line {number}: {BEGIN} inside the block opened "
                                  f"on line {opened}")
            opened = number
            if version == "student":
                indent = line[: len(line) - len(line.lstrip())]
                out += [f"{indent}{STUB[0]}\n", f"{indent}{STUB[1]}\n"]
        elif marker == END:
            if opened is None:
                raise SourceError(f"{where}, line {number}: {END} without {BEGIN}")
            opened = None
        elif opened is None or version == "instructor":
            out.append(line)
    if opened is not None:
        raise SourceError(f"{where}: {BEGIN} on line {opened} has no {END}")
    text = "".join(out)
    # A marker on the last line must not leave a newline that the cell did not end with.
    return text if code.endswith("\n") else text.removesuffix("\n")


def _retitle(cell: dict, stem: str, where: str) -> None:
    """The instructor version's first cell: " (solutions)" after the title, badge to itself."""
    text = _text(cell)
    title, _, rest = text.partition("\n")
    student = f"{STUDENT_DIR.as_posix()}/{stem}.ipynb"
    if cell["cell_type"] != "markdown" or not title.startswith("# "):
        raise SourceError(f"{where}: the first cell must be markdown starting with '# <title>'")
    if rest.count(student) != 1:
        raise SourceError(f"{where}: the first cell must link its Colab badge to {student} "
                          f"(found it {rest.count(student)} times)")
    instructor = f"{INSTRUCTOR_DIR.as_posix()}/{stem}_solutions.ipynb"
    cell["source"] = f"{title} (solutions)\n{rest.replace(student, instructor)}".splitlines(
        keepends=True)


def relink(markdown: str, prefix: str = "../") -> str:
    """``markdown`` with ``prefix`` before every relative link target outside code."""
    out, in_fence = [], False
    for line in markdown.splitlines(keepends=True):
        if FENCE.match(line):
            in_fence = not in_fence
        if in_fence or FENCE.match(line):
            out.append(line)
            continue
        parts, last = [], 0
        for span in CODE_SPAN.finditer(line):
            parts += [RELATIVE_LINK.sub(rf"\1{prefix}", line[last:span.start()]), span.group()]
            last = span.end()
        out.append("".join(parts) + RELATIVE_LINK.sub(rf"\1{prefix}", line[last:]))
    return "".join(out)


def make_version(source: dict, version: Version, stem: str) -> dict:
    """The student or instructor notebook of the source notebook ``source`` (its file's stem)."""
    name = f"{SOURCE_DIR.as_posix()}/{stem}.ipynb"
    nb = copy.deepcopy(source)
    if not nb.get("cells"):
        raise SourceError(f"{name}: no cells")
    cells = []
    for index, cell in enumerate(nb["cells"]):
        where = _where(name, index, cell)
        metadata = cell.setdefault("metadata", {})
        tags = metadata.get("tags", [])
        if SOLUTION_TAG in tags and STUDENT_TAG in tags:
            raise SourceError(f"{where}: tagged both {SOLUTION_TAG!r} and {STUDENT_TAG!r}")
        if index == 0 and (SOLUTION_TAG in tags or STUDENT_TAG in tags):
            raise SourceError(f"{where}: the title cell belongs to both versions; remove its tag")
        if {"student": SOLUTION_TAG, "instructor": STUDENT_TAG}[version] in tags:
            continue
        kept = [tag for tag in tags if tag not in (SOLUTION_TAG, STUDENT_TAG)]
        if kept:
            metadata["tags"] = kept
        else:
            metadata.pop("tags", None)

        text = _text(cell)
        if cell["cell_type"] == "code":
            new = replace_solutions(text, version, where)
            if new != text:
                cell["source"] = new.splitlines(keepends=True)
            cell["outputs"] = []
            cell["execution_count"] = None
        elif any(line.strip() in (BEGIN, END) for line in text.splitlines()):
            raise SourceError(f"{where}: solution markers work in code cells only; "
                              f"tag a {cell['cell_type']} cell {SOLUTION_TAG!r} instead")
        elif cell["cell_type"] == "markdown" and version == "instructor":
            new = relink(text)
            if new != text:
                cell["source"] = new.splitlines(keepends=True)
        cells.append(cell)
    if version == "instructor":
        _retitle(cells[0], stem, _where(name, 0, cells[0]))
    nb["cells"] = cells
    return nb


def render(nb: dict) -> str:
    """The file's text, as Jupyter writes it."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def targets(stem: str) -> dict[Version, Path]:
    """The generated files of the source ``homework/source/<stem>.ipynb``, relative to the root."""
    return {"student": STUDENT_DIR / f"{stem}.ipynb",
            "instructor": INSTRUCTOR_DIR / f"{stem}_solutions.ipynb"}


def sources(root: Path = ROOT) -> list[Path]:
    return sorted((root / SOURCE_DIR).glob("*.ipynb"))


def generate(root: Path = ROOT) -> dict[Path, str]:
    """Every generated notebook (path relative to ``root``) and its text, from every source."""
    found = sources(root)
    if not found:
        raise SourceError(f"no sources in {root / SOURCE_DIR}")
    generated = {}
    release = colab.read_release(root)
    for path in found:
        name = f"{SOURCE_DIR.as_posix()}/{path.name}"
        try:
            source = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise SourceError(f"{name}: not a notebook ({err})") from None
        for version, target in targets(path.stem).items():
            nb = make_version(source, version, path.stem)
            try:  # badge to the release tag, the install cell, the GPU runtime
                colab.apply(nb, path.stem, release, name)
            except ValueError as err:
                raise SourceError(str(err)) from None
            generated[target] = render(nb)
    return generated


def without_source(root: Path, generated: dict[Path, str]) -> list[Path]:
    """Notebooks where generated ones live that no source generates (written by hand)."""
    present = [*(root / STUDENT_DIR).glob("*.ipynb"), *(root / INSTRUCTOR_DIR).glob("*.ipynb")]
    return sorted(p.relative_to(root) for p in present if p.relative_to(root) not in generated)


def stale(root: Path = ROOT) -> list[str]:
    """One line per generated notebook that is missing, differs from its source, or has none."""
    generated = generate(root)
    problems = []
    for target, text in generated.items():
        path = root / target
        if not path.exists():
            problems.append(f"{target.as_posix()}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{target.as_posix()}: differs from its source")
    problems += [f"{p.as_posix()}: no source in {SOURCE_DIR.as_posix()}/ generates it"
                 for p in without_source(root, generated)]
    return problems


def write(root: Path = ROOT) -> list[Path]:
    """Write every generated notebook whose text changed; return those written."""
    written = []
    for target, text in generate(root).items():
        path = root / target
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def main(argv: list[str] | None = None, prog: str = "python -m labkit.homework.assign") -> int:
    """The command line; returns the exit status (0 done or up to date, 1 stale or an error)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a generated notebook is stale or missing")
    parser.add_argument("--root", type=Path, default=ROOT, help=f"the repository (default {ROOT})")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale(args.root)
            for line in problems:
                print(line)
            if problems:
                print(f"{len(problems)} generated notebook(s) out of date: run `make homework` "
                      f"(edit {SOURCE_DIR.as_posix()}/, never the generated notebooks)")
                return 1
            print(f"{len(sources(args.root))} sources, their notebooks are up to date")
            return 0
        for target in write(args.root):
            print(f"wrote {target.as_posix()}")
        orphans = without_source(args.root, generate(args.root))
    except SourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in orphans:
        print(f"{path.as_posix()}: no source in {SOURCE_DIR.as_posix()}/ generates it")
    if not orphans:
        print(f"{len(sources(args.root))} sources, their notebooks are up to date")
    return 1 if orphans else 0


if __name__ == "__main__":
    sys.exit(main())
