"""The book's citations (issue 13): every {cite} key exists in references.bib, every entry is complete.

Lectures cite papers with the MyST role {cite}`key` (also {cite:p}, {cite:t}, several keys separated
by commas) in markdown cells; book/bibliography.md lists references.bib with a {bibliography}
directive. A key missing from references.bib renders as "?" in the book with only a warning, and an
entry without its venue renders half empty, so these tests check the sources before a build does.
The entries are read with pybtex, the parser sphinxcontrib-bibtex uses for the book.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from pybtex.database import parse_string

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "references.bib"
CITING = sorted(
    [*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "notebooks" / "solutions").glob("*.ipynb"),
     *(ROOT / "homework" / "source").glob("*.ipynb"), *(ROOT / "book").glob("*.md")]
)

# {cite}`a`, {cite:p}`a,b`, {cite:t}`a` and the other sphinxcontrib-bibtex variants ({cite:ps}, ...)
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")
ENTRY_START = re.compile(r"^\s*@(\w+)\s*\{\s*([^,\s]+)\s*,", re.MULTILINE)

# Fields BibTeX's standard styles need to print an entry of each type (author, title and year always).
REQUIRED = {
    "article": ("journal",),
    "inproceedings": ("booktitle",),
    "conference": ("booktitle",),
    "incollection": ("booktitle", "publisher"),
    "book": ("publisher",),
    "techreport": ("institution",),
    "phdthesis": ("school",),
    "mastersthesis": ("school",),
}


def _text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def markdown_of(path: Path) -> list[str]:
    """The markdown a page renders: a .md file whole, a notebook's markdown cells."""
    if path.suffix == ".md":
        return [path.read_text(encoding="utf-8")]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [_text(c) for c in cells if c["cell_type"] == "markdown"]


def cited_keys(texts: list[str]) -> list[str]:
    """Every key cited in these texts, in order (a role may hold several keys: {cite}`a,b`)."""
    return [key.strip() for text in texts for match in CITE_ROLE.finditer(text)
            for key in match.group(1).split(",") if key.strip()]


def bib_keys(text: str) -> list[str]:
    """The keys of a .bib file as written, duplicates included (@comment/@string/@preamble are not entries)."""
    return [key for kind, key in ENTRY_START.findall(text)
            if kind.lower() not in ("comment", "string", "preamble")]


def bib_problems(text: str) -> list[str]:
    """What is wrong with a .bib file: duplicate keys, entry types we do not know, missing fields."""
    keys = bib_keys(text)
    seen: dict[str, str] = {}
    problems = []
    for key in keys:  # BibTeX keys are case-insensitive
        if key.lower() in seen:
            problems.append(f"duplicate key {key!r} (also {seen[key.lower()]!r})")
        seen.setdefault(key.lower(), key)
    if problems:
        return problems  # pybtex would stop at the first duplicate
    entries = parse_string(text, "bibtex").entries
    missing_parse = set(keys) - set(entries)
    problems += [f"{key}: pybtex could not read this entry" for key in sorted(missing_parse)]
    for key, entry in entries.items():
        kind = entry.type.lower()
        if kind not in REQUIRED:
            problems.append(f"{key}: entry type @{kind} (use one of {', '.join('@' + t for t in REQUIRED)})")
            continue
        fields = {name.lower() for name, value in entry.fields.items() if str(value).strip()}
        if entry.persons.get("author") or (kind == "book" and entry.persons.get("editor")):
            fields.add("author")  # pybtex keeps people apart from the other fields
        needed = ("author", "title", "year", *REQUIRED[kind])
        absent = [name for name in needed if name not in fields]
        if absent:
            problems.append(f"{key} (@{kind}): missing {', '.join(absent)}")
        year = str(entry.fields.get("year", ""))
        if year and not re.fullmatch(r"(1[89]|20)\d\d", year):
            problems.append(f"{key}: year {year!r} is not a year")
    return problems


def missing_keys(texts: list[str], bib_text: str) -> list[str]:
    known = set(bib_keys(bib_text))
    return sorted({key for key in cited_keys(texts) if key not in known})


# --- the course's own files ---------------------------------------------------------------------


def test_references_bib_is_complete_and_has_no_duplicates():
    problems = bib_problems(BIB.read_text(encoding="utf-8"))
    assert not problems, "references.bib:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", CITING, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_cited_key_is_in_references_bib(path: Path):
    missing = missing_keys(markdown_of(path), BIB.read_text(encoding="utf-8"))
    assert not missing, (f"{path.name} cites {missing}: append complete entries for them to "
                         "references.bib (or fix the key's spelling)")


@pytest.mark.parametrize("lecture", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_every_lecture_cites_the_papers_it_uses(lecture: Path):
    """Every lecture builds on published work and cites it at its first mention (in homework/source)."""
    assert cited_keys(markdown_of(lecture)), f"no {{cite}} role in the markdown of {lecture.name}"


@pytest.mark.parametrize("path", [p for p in CITING if p.suffix == ".ipynb"], ids=lambda p: p.name)
def test_no_cite_role_in_code_cells(path: Path):
    """A role in a code cell (a comment, a string) is printed literally: cite in markdown."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    bad = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and CITE_ROLE.search(_text(c))]
    assert not bad, f"{{cite}} in code cells {bad} of {path.name}"


def test_bibliography_page_lists_the_whole_bib_file():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "references.bib" in config.get("bibtex_bibfiles", []), "_config.yml: bibtex_bibfiles"
    page = (ROOT / "book" / "bibliography.md").read_text(encoding="utf-8")
    directive = re.search(r"```\{bibliography\}[^\n]*\n(.*?)```", page, re.DOTALL)
    assert directive, "book/bibliography.md needs a {bibliography} directive"
    assert re.search(r"^:all:\s*$", directive.group(1), re.MULTILINE), "list every entry (:all:)"
    assert "book/bibliography" in (ROOT / "_toc.yml").read_text(encoding="utf-8")


# --- the checks above can fail ------------------------------------------------------------------

GOOD = """@article{a2020,
  title = {A}, author = {Doe, Jane}, journal = {J}, year = {2020}
}
@inproceedings{b2021,
  title = {B}, author = {Roe, Richard and Doe, Jane}, booktitle = {Conf}, year = {2021}
}
"""


def test_checker_accepts_a_good_file():
    assert bib_problems(GOOD) == []
    assert missing_keys(["see {cite}`a2020` and {cite:p}`a2020, b2021`"], GOOD) == []


def test_checker_finds_a_missing_key_in_a_notebook(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": ["As {cite:t}`a2020` and\n", "{cite}`c1999` show."]},
                    {"cell_type": "code", "source": ["x = 1  # {cite}`zzz` is not rendered"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "lecture.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    assert cited_keys(markdown_of(path)) == ["a2020", "c1999"]
    assert missing_keys(markdown_of(path), GOOD) == ["c1999"]


def test_checker_finds_a_missing_key_in_a_page(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("The rule {cite}`b2021,nobody2000` and {cite:p}`a2020`.\n", encoding="utf-8")
    assert missing_keys(markdown_of(page), GOOD) == ["nobody2000"]


@pytest.mark.parametrize("broken, expected", [
    (GOOD.replace("journal = {J}, ", ""), "a2020 (@article): missing journal"),
    (GOOD.replace("booktitle = {Conf}, ", ""), "b2021 (@inproceedings): missing booktitle"),
    (GOOD.replace("author = {Doe, Jane}, ", ""), "a2020 (@article): missing author"),
    (GOOD.replace("year = {2021}", "year = {n.d.}"), "b2021: year 'n.d.' is not a year"),
    (GOOD + "@article{A2020,\n  title = {C}, author = {X, Y}, journal = {J}, year = {2020}\n}\n",
     "duplicate key 'A2020' (also 'a2020')"),
    (GOOD + "@misc{m2019,\n  title = {M}, author = {X, Y}, year = {2019}\n}\n", "m2019: entry type @misc"),
    (GOOD + "@techreport{t2011,\n  title = {T}, author = {X, Y}, year = {2011}\n}\n",
     "t2011 (@techreport): missing institution"),
])
def test_checker_finds_incomplete_entries(tmp_path, broken, expected):
    bib = tmp_path / "references.bib"
    bib.write_text(broken, encoding="utf-8")
    problems = bib_problems(bib.read_text(encoding="utf-8"))
    assert any(p.startswith(expected) for p in problems), problems


TITLE_FIELD = re.compile(r"^\s*title\s*=\s*(.*?),?\s*$", re.MULTILINE)


def rendering_problems(text: str) -> list[str]:
    """Entries the book's citation style would garble: LaTeX accent macros (the
    labels show "HGDollarG17") and titles without a protecting brace pair (the
    style lowercases them: "Mask r-cnn")."""
    problems = []
    if "\\" in text:
        problems.append("LaTeX macro (write accented names in Unicode)")
    for title in TITLE_FIELD.findall(text):
        if not title.startswith("{{"):
            problems.append(f"title not protected by {{{{...}}}}: {title}")
    return problems


def test_bibliography_renders_names_and_titles_as_written():
    assert rendering_problems(BIB.read_text(encoding="utf-8")) == []


def test_rendering_check_can_fail():
    bad = "@article{x,\n  title = {Mask R-CNN},\n  author = {Doll{\\'a}r, P},\n}"
    assert len(rendering_problems(bad)) == 2
