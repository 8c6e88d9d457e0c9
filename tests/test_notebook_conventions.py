"""Every notebook follows the course's conventions (CONTRIBUTING.md, "Conventions every notebook follows").

First cell: title and an Open-in-Colab badge to the release tag, built from the repository setting in
_config.yml and the version in pyproject.toml; then an install cell that installs that release of
labkit where it is missing, on Colab or Kaggle only (elsewhere it names the command), hidden in the
book; then a labkit.setup() cell; lectures that train open on a GPU runtime; no stored outputs; listed in
_toc.yml; no deprecated or Colab-only code.

The notebooks under notebooks/ are generated from homework/source/ (labkit.homework.assign); these
tests check what the book and Colab show, tests/test_homework_generate.py that it matches its source.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
NOTEBOOKS = [nb for nb in NOTEBOOKS if ".ipynb_checkpoints" not in nb.parts]
SOURCES = sorted((ROOT / "homework" / "source").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"].rstrip("/")
BRANCH = CONFIG["repository"]["branch"]
GITHUB_PATH = REPO_URL.removeprefix("https://github.com/")
VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)[1]
TAG = f"v{VERSION}"


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _toc_files(node) -> set[str]:
    files: set[str] = set()
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                files.add(str(node[key]))
        for value in node.values():
            files |= _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            files |= _toc_files(item)
    return files


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


def test_repository_setting_is_a_github_url():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", REPO_URL), REPO_URL


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_has_title_and_colab_badge(nb: Path):
    first = _cells(nb)[0]
    assert first["cell_type"] == "markdown"
    text = _source(first)
    assert text.startswith("# "), "the first cell starts with the lecture's title"
    rel = nb.relative_to(ROOT).as_posix()
    badge = f"https://colab.research.google.com/github/{GITHUB_PATH}/blob/{TAG}/{rel}"
    assert badge in text, f"badge must link to {badge}"
    assert "colab-badge.svg" in text


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_guarded_install_cell_then_setup_cell(nb: Path):
    code = [c for c in _cells(nb) if c["cell_type"] == "code"]
    install, setup = _source(code[0]), _source(code[1])
    assert 'if importlib.util.find_spec("labkit") is None:' in install, "install only where it is missing"
    assert f'REPO, TAG = "{REPO_URL}", "{TAG}"' in install, "the release tag of pyproject's version"
    assert 'package = f"cv-course-labkit @ git+{REPO}@{TAG}"' in install
    assert 'on_colab = "google.colab" in sys.modules' in install
    assert "raise ModuleNotFoundError" in install, "elsewhere: name the command, install nothing"
    pip_lines = [line for line in install.splitlines()
                 if "pip install" in line and not line.lstrip().startswith(("#", "f'", '"'))]
    assert pip_lines == ['    %pip install -q "{package}"'], "pip must sit under the guards"
    assert "remove-cell" in code[0].get("metadata", {}).get("tags", []), "hidden in the book"
    assert "labkit.setup(" in setup


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_lectures_that_train_open_on_a_gpu_in_colab(nb: Path):
    metadata = json.loads(nb.read_text(encoding="utf-8"))["metadata"]
    number = int(nb.name[:2])
    if number >= 2:
        assert metadata.get("accelerator") == "GPU" and metadata.get("colab", {}).get("gpuType")
    else:
        assert "accelerator" not in metadata


def test_the_install_cell_works_where_labkit_is_missing(tmp_path):
    """Run the generated install cell's logic outside Colab with labkit hidden: it names the command."""
    from labkit.homework.colab import read_release

    cell = read_release(ROOT).install_cell()
    body = cell.replace('    %pip install -q "{package}"', '    installed.append(package)')
    namespace = {"installed": []}
    import importlib.util
    real_find_spec = importlib.util.find_spec
    try:
        importlib.util.find_spec = lambda name, *a: None if name == "labkit" else real_find_spec(name, *a)
        with pytest.raises(ModuleNotFoundError, match=re.escape(f'pip install "cv-course-labkit @ git+{REPO_URL}@{TAG}"')):
            exec(body, namespace)
        import os
        os.environ["KAGGLE_KERNEL_RUN_TYPE"] = "Interactive"
        try:
            exec(body, namespace)
        finally:
            del os.environ["KAGGLE_KERNEL_RUN_TYPE"]
        assert namespace["installed"] == [f"cv-course-labkit @ git+{REPO_URL}@{TAG}"]
    finally:
        importlib.util.find_spec = real_find_spec


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(nb: Path):
    for cell in _cells(nb):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), "clear outputs before committing"
            assert cell.get("execution_count") is None


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_no_deprecated_or_colab_only_code(nb: Path):
    code = "\n".join(_source(c) for c in _cells(nb) if c["cell_type"] == "code")
    for bad in ("pretrained=True", "/content/", "drive.mount", "cuda:1", "Variable("):
        assert bad not in code, f"{bad!r} in {nb.name}"


BOOK_COLUMN = 79  # characters of code the book's code column shows without scrolling


@pytest.mark.parametrize("nb", NOTEBOOKS + SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_code_lines_fit_the_book_column(nb: Path):
    long = [f"cell {i}: {line!r}" for i, cell in enumerate(_cells(nb)) if cell["cell_type"] == "code"
            for line in _source(cell).splitlines() if len(line) > BOOK_COLUMN]
    assert not long, (f"{len(long)} code line(s) of {nb.name} exceed {BOOK_COLUMN} characters (edit "
                      "homework/source, then `make homework`):\n" + "\n".join(long[:10]))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_listed_in_toc(nb: Path):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    entry = nb.relative_to(ROOT).with_suffix("").as_posix()
    assert entry in _toc_files(toc), f"add {entry} to _toc.yml"


def test_every_lecture_has_a_solutions_notebook():
    lectures = {p.stem for p in NOTEBOOKS if p.parent.name == "notebooks"}
    solutions = {p.stem.removesuffix("_solutions") for p in NOTEBOOKS if p.parent.name == "solutions"}
    assert lectures <= solutions, f"missing solutions for {sorted(lectures - solutions)}"


def test_readme_and_lecture_map_name_every_lecture():
    """README's lecture table and the book's lecture map link each lecture, and call none 'in preparation'."""
    readme = (ROOT / "README.md").read_text()
    lecture_map = (ROOT / "book" / "intro.md").read_text()
    for nb in NOTEBOOKS:
        if nb.parent.name == "notebooks":
            assert f"`notebooks/{nb.name}`" in readme, f"README's lecture table lacks {nb.name}"
            assert f"{{doc}}`/notebooks/{nb.stem}`" in lecture_map, f"book/intro.md lacks {nb.stem}"
    assert "in preparation" not in readme.lower() + lecture_map.lower()


CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # every control character but the newline


@pytest.mark.parametrize("nb", NOTEBOOKS + SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_markdown_and_math_free_of_control_characters(nb: Path):
    """A TAB, a form feed or a backspace in markdown is a mistyped escape ("\\t" in ``$2 \\times 2$``
    written through a Python string becomes a TAB and renders as "2 imes 2")."""
    bad = [f"cell {i}: {match.group()!r} in {_source(cell)[max(match.start() - 20, 0):match.end() + 20]!r}"
           for i, cell in enumerate(_cells(nb)) if cell["cell_type"] == "markdown"
           for match in CONTROL.finditer(_source(cell))]
    assert not bad, f"control characters in the markdown of {nb.name} (edit homework/source):\n" + "\n".join(bad[:10])


def hide_input_problems(cells: list[dict]) -> list[str]:
    """`hide-input` folds the code of a figure cell in the book: never on markdown, on the install cell
    (which stays `remove-cell`), on an exercise or on a solution."""
    problems = []
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    for i, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "hide-input" not in tags:
            continue
        if cell["cell_type"] != "code":
            problems.append(f"cell {i}: hide-input on a {cell['cell_type']} cell")
        elif code and i == code[0]:
            problems.append(f"cell {i}: the install cell is remove-cell, not hide-input")
        elif {"solution", "student"} & set(tags) or re.search(r"checks\.check_|NotImplementedError",
                                                              _source(cell)):
            problems.append(f"cell {i}: an exercise or solution cell must stay visible")
    if code and "remove-cell" not in cells[code[0]].get("metadata", {}).get("tags", []):
        problems.append(f"cell {code[0]}: the install cell lost its remove-cell tag")
    return problems


@pytest.mark.parametrize("nb", NOTEBOOKS + SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hide_input_only_on_figure_code(nb: Path):
    problems = hide_input_problems(_cells(nb))
    assert not problems, f"{nb.name} (edit homework/source):\n" + "\n".join(problems)


def test_hide_input_check_can_fail():
    install = {"cell_type": "code", "source": "%pip ...", "metadata": {"tags": ["remove-cell"]}}
    plot = {"cell_type": "code", "source": "fig, ax = plt.subplots()", "metadata": {"tags": ["hide-input"]}}
    assert hide_input_problems([install, plot]) == []
    text = {"cell_type": "markdown", "source": "# Notes", "metadata": {"tags": ["hide-input"]}}
    exercise = {"cell_type": "code", "source": "checks.check_f(f);", "metadata": {"tags": ["hide-input"]}}
    bare_install = {"cell_type": "code", "source": "%pip ...", "metadata": {"tags": ["hide-input"]}}
    assert len(hide_input_problems([install, text, exercise])) == 2
    assert len(hide_input_problems([bare_install, plot])) == 2  # hidden, and not removed
