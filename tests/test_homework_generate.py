"""labkit.homework.assign: student and instructor notebooks generated from one source per lecture."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from labkit.homework.assign import (BEGIN, END, ROOT, SourceError, generate, main, make_version,
                                    render, replace_solutions, sources, stale)

BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/o/r/blob/main/notebooks/{path})")


def _cell(kind: str, text: str, *tags: str, cell_id: str | None = None) -> dict:
    cell = {"cell_type": kind, "metadata": {"tags": list(tags)} if tags else {},
            "source": text.splitlines(keepends=True)}
    if kind == "code":
        cell |= {"execution_count": None, "outputs": []}
    if cell_id:
        cell["id"] = cell_id
    return cell


def _notebook(*cells: dict) -> dict:
    title = _cell("markdown", "# Lecture 9: Tiny\n\n" + BADGE.format(path="09_tiny.ipynb") + "\n\nText.",
                  cell_id="title")
    return {"cells": [title, *cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _texts(nb: dict) -> list[str]:
    return ["".join(c["source"]) for c in nb["cells"]]


INSTALL = '# install\nimport sys\n\nif "google.colab" in sys.modules:\n    %pip install -q labkit'


def _repository(tmp_path: Path, *cells: dict, install: bool = True) -> Path:
    """A repository with its settings and one source, homework/source/09_tiny.ipynb (an install cell,
    then ``cells``), and its notebooks generated."""
    (tmp_path / "homework" / "source").mkdir(parents=True)
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/someone/course\n"
                                          "  branch: main\n")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1.2.3"\n')
    first = [_cell("code", INSTALL, cell_id="install")] if install else []
    (tmp_path / "homework" / "source" / "09_tiny.ipynb").write_text(render(_notebook(*first, *cells)))
    if install:
        assert main(["--root", str(tmp_path)]) == 0
    return tmp_path


def test_generated_notebooks_open_the_release_in_colab(tmp_path):
    root = _repository(tmp_path, _cell("code", EXERCISE))
    for path in ("notebooks/09_tiny.ipynb", "notebooks/solutions/09_tiny_solutions.ipynb"):
        nb = json.loads((root / path).read_text())
        assert f"colab.research.google.com/github/someone/course/blob/v1.2.3/{path}" in _texts(nb)[0]
        install = nb["cells"][1]
        assert 'REPO, TAG = "https://github.com/someone/course", "v1.2.3"' in "".join(install["source"])
        assert install["metadata"]["tags"] == ["remove-cell"]
        assert nb["metadata"]["accelerator"] == "GPU"  # lecture 9 trains


def test_a_source_without_its_install_cell_is_an_error(tmp_path, capsys):
    root = _repository(tmp_path, _cell("code", EXERCISE), install=False)
    assert main(["--root", str(root)]) == 1
    assert "the first code cell must be the install cell" in capsys.readouterr().err


EXERCISE = """\
def f(x):
    \"\"\"Twice x.\"\"\"
    # BEGIN SOLUTION
    y = 2 * x
    return y
    # END SOLUTION


checks.check_f(f);"""


# ---------------------------------------------------------------------------------------------
# The repository's notebooks (the CI staleness check)
# ---------------------------------------------------------------------------------------------

def test_generated_notebooks_are_up_to_date_with_their_sources():
    problems = stale(ROOT)
    assert not problems, ("\n".join(problems) + "\nEdit homework/source/ and run `make homework`; "
                          "never edit the generated notebooks by hand.")


@pytest.mark.parametrize("path", sorted(generate(ROOT)), ids=lambda p: p.name)
def test_generated_notebooks_are_valid(path: Path):
    nbformat.validate(nbformat.reads(generate(ROOT)[path], as_version=4))


@pytest.mark.parametrize("source", sources(ROOT), ids=lambda p: p.name)
def test_source_is_committed_without_outputs(source: Path):
    for cell in json.loads(source.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None


@pytest.mark.parametrize("source", sources(ROOT), ids=lambda p: p.name)
def test_solutions_and_instructor_cells_fit_in_79_columns(source: Path):
    """What the generator adds to the lecture (solution blocks, tagged cells) reads in the book."""
    too_long = []
    for index, cell in enumerate(json.loads(source.read_text(encoding="utf-8"))["cells"]):
        if cell["cell_type"] != "code":
            continue
        tagged = bool(cell["metadata"].get("tags"))
        inside = False
        for line in "".join(cell["source"]).splitlines():
            inside = {BEGIN: True, END: False}.get(line.strip(), inside)
            if (inside or tagged) and len(line) > 79:
                too_long.append(f"cell {index}: {line}")
    assert not too_long, "\n".join(too_long)


@pytest.mark.parametrize("source", sources(ROOT), ids=lambda p: p.name)
def test_source_ends_with_summary_and_export(source: Path):
    nb = json.loads(source.read_text(encoding="utf-8"))
    student = make_version(nb, "student", source.stem)
    instructor = make_version(nb, "instructor", source.stem)
    assert "from labkit.checks import export, summary" in _texts(student)[-1]
    assert "export()" in _texts(student)[-1]
    assert "Check your work and hand it in" in _texts(student)[-2]
    assert _texts(instructor)[-1].startswith("assert summary().all_passed")
    assert not any("YOUR CODE HERE" in t for t in _texts(instructor))


# ---------------------------------------------------------------------------------------------
# --check and writing, on a repository in tmp_path
# ---------------------------------------------------------------------------------------------

def test_check_passes_right_after_generating(tmp_path, capsys):
    root = _repository(tmp_path, _cell("code", EXERCISE))
    assert (root / "notebooks" / "09_tiny.ipynb").exists()
    assert (root / "notebooks" / "solutions" / "09_tiny_solutions.ipynb").exists()
    assert main(["--check", "--root", str(root)]) == 0


def test_check_fails_when_a_generated_notebook_is_edited_by_hand(tmp_path, capsys):
    root = _repository(tmp_path, _cell("code", EXERCISE))
    student = root / "notebooks" / "09_tiny.ipynb"
    student.write_text(student.read_text().replace("raise NotImplementedError", "return 2 * x"))
    capsys.readouterr()
    assert main(["--check", "--root", str(root)]) == 1
    assert "notebooks/09_tiny.ipynb: differs from its source" in capsys.readouterr().out
    assert student.read_text().count("return 2 * x") == 1, "--check must write nothing"


def test_check_fails_when_a_source_changes_without_regenerating(tmp_path, capsys):
    root = _repository(tmp_path, _cell("code", EXERCISE))
    source = root / "homework" / "source" / "09_tiny.ipynb"
    source.write_text(source.read_text().replace("y = 2 * x", "y = x + x"))
    capsys.readouterr()
    assert main(["--check", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "notebooks/solutions/09_tiny_solutions.ipynb: differs from its source" in out
    assert "notebooks/09_tiny.ipynb" not in out  # the student version did not change


def test_check_names_missing_and_sourceless_notebooks(tmp_path, capsys):
    root = _repository(tmp_path, _cell("code", EXERCISE))
    (root / "notebooks" / "solutions" / "09_tiny_solutions.ipynb").unlink()
    (root / "notebooks" / "10_by_hand.ipynb").write_text("{}")
    capsys.readouterr()
    assert main(["--check", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "notebooks/solutions/09_tiny_solutions.ipynb: missing" in out
    assert "notebooks/10_by_hand.ipynb: no source" in out


def test_writing_twice_changes_nothing(tmp_path):
    root = _repository(tmp_path, _cell("code", EXERCISE), _cell("markdown", "Answer: 4.", "solution"))
    before = {p: p.read_bytes() for p in (root / "notebooks").rglob("*.ipynb")}
    assert main(["--root", str(root)]) == 0
    assert before == {p: p.read_bytes() for p in (root / "notebooks").rglob("*.ipynb")}


def test_a_broken_source_is_an_error_not_a_traceback(tmp_path, capsys):
    root = _repository(tmp_path, _cell("code", EXERCISE))
    source = root / "homework" / "source" / "09_tiny.ipynb"
    source.write_text(source.read_text().replace("# END SOLUTION", "# the end"))
    assert main(["--root", str(root)]) == 1
    assert "homework/source/09_tiny.ipynb: cell 2" in capsys.readouterr().err  # after the install cell


# ---------------------------------------------------------------------------------------------
# The transforms, on small notebooks in memory
# ---------------------------------------------------------------------------------------------

def test_student_gets_the_stub_at_the_markers_indentation():
    code = ("for i in range(3):\n    if i:\n        # BEGIN SOLUTION\n        print(i)\n"
            "        # END SOLUTION\nx = 1")
    assert replace_solutions(code, "student") == (
        "for i in range(3):\n    if i:\n        # YOUR CODE HERE\n        raise NotImplementedError\nx = 1")


def test_instructor_keeps_the_code_and_drops_the_markers():
    code = "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION"
    assert replace_solutions(code, "instructor") == "def f(x):\n    return 2 * x"


def test_a_block_on_the_last_line_adds_no_trailing_newline():
    code = "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTION"
    assert replace_solutions(code, "student") == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError")


def test_exercise_cell_matches_todays_stub():
    student = make_version(_notebook(_cell("code", EXERCISE)), "student", "09_tiny")
    assert _texts(student)[1] == ('def f(x):\n    """Twice x."""\n    # YOUR CODE HERE\n'
                                  '    raise NotImplementedError\n\n\nchecks.check_f(f);')


def test_begin_without_end_names_the_notebook_and_cell():
    nb = _notebook(_cell("markdown", "Intro."), _cell("code", "def f():\n    # BEGIN SOLUTION\n    return 1",
                                                       cell_id="ex1"))
    where = r"homework/source/09_tiny\.ipynb: cell 2 \(id ex1\).*line 2 has no"
    with pytest.raises(SourceError, match=where):
        make_version(nb, "student", "09_tiny")


@pytest.mark.parametrize("code, why", [
    ("# END SOLUTION", "without # BEGIN"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "inside the block opened on line 1"),
    ("def f():\n    # BEGIN SOLUTIONS\n    return 1\n    # END SOLUTION", "is not a marker"),
])
def test_misplaced_or_misspelled_markers_are_refused(code, why):
    with pytest.raises(SourceError, match=why):
        make_version(_notebook(_cell("code", code)), "student", "09_tiny")


def test_markers_in_a_markdown_cell_are_refused():
    nb = _notebook(_cell("markdown", "# BEGIN SOLUTION\nThe answer.\n# END SOLUTION"))
    with pytest.raises(SourceError, match="tag a markdown cell 'solution'"):
        make_version(nb, "instructor", "09_tiny")


def test_tagged_cells_go_to_one_version_and_lose_the_tag():
    nb = _notebook(_cell("markdown", "Worked answer.", "solution"),
                   _cell("markdown", "Hint for students.", "student", "remove-input"),
                   _cell("code", "x = 1"))
    student, instructor = make_version(nb, "student", "09_tiny"), make_version(nb, "instructor", "09_tiny")
    assert _texts(student)[1:] == ["Hint for students.", "x = 1"]
    assert _texts(instructor)[1:] == ["Worked answer.", "x = 1"]
    assert student["cells"][1]["metadata"] == {"tags": ["remove-input"]}
    assert instructor["cells"][1]["metadata"] == {}


def test_a_cell_tagged_for_both_versions_is_refused():
    with pytest.raises(SourceError, match="tagged both"):
        make_version(_notebook(_cell("code", "x = 1", "solution", "student")), "student", "09_tiny")


def test_instructor_title_and_badge_point_at_the_solutions_notebook():
    nb = _notebook(_cell("code", "x = 1"))
    student, instructor = make_version(nb, "student", "09_tiny"), make_version(nb, "instructor", "09_tiny")
    assert _texts(student)[0] == _texts(nb)[0]
    title, badge = _texts(instructor)[0].splitlines()[:3:2]
    assert title == "# Lecture 9: Tiny (solutions)"
    assert badge == BADGE.format(path="solutions/09_tiny_solutions.ipynb")


def test_a_first_cell_without_the_badge_is_refused():
    nb = _notebook(_cell("code", "x = 1"))
    nb["cells"][0]["source"] = ["# Lecture 9: Tiny\n", "No badge."]
    with pytest.raises(SourceError, match="Colab badge to notebooks/09_tiny.ipynb"):
        make_version(nb, "instructor", "09_tiny")


def test_instructor_links_to_relative_paths_go_one_folder_up():
    text = ("The [errata](../book/errata.md), ![a figure](figures/a.png), [a site](https://x.org/a.md),\n"
            "[a section](#top); code stays: `model[:2](x)`.\n```python\nlayers[0](x)\n```")
    nb = _notebook(_cell("markdown", text))
    assert _texts(make_version(nb, "student", "09_tiny"))[1] == text
    assert _texts(make_version(nb, "instructor", "09_tiny"))[1] == (
        "The [errata](../../book/errata.md), ![a figure](../figures/a.png), [a site](https://x.org/a.md),\n"
        "[a section](#top); code stays: `model[:2](x)`.\n```python\nlayers[0](x)\n```")


def test_outputs_are_cleared_and_ids_kept():
    cell = _cell("code", "print(1)", cell_id="abc")
    cell |= {"execution_count": 3, "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]}
    for version in ("student", "instructor"):
        out = make_version(_notebook(cell), version, "09_tiny")["cells"][1]
        assert (out["outputs"], out["execution_count"], out["id"]) == ([], None, "abc")


def test_render_is_jupyters_format():
    nb = make_version(_notebook(_cell("code", EXERCISE, cell_id="ex1")), "instructor", "09_tiny")
    text = render(nb)
    assert text == nbformat.writes(nbformat.from_dict(nb)) + "\n"
    assert text.endswith("}\n") and '\n "cells": [\n  {\n' in text
