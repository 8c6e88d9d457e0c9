"""How a generated notebook opens in Colab: badge, install cell, GPU runtime (``make homework``).

Everything comes from two settings: the repository in ``_config.yml`` (``repository: url:``) and the
version in ``pyproject.toml``, whose release tag ``v<version>`` the badges open and the install cell
installs (CONTRIBUTING.md, "Releases"). :func:`labkit.homework.assign.make_version` applies it to both
versions of every lecture; ``tests/test_notebook_conventions.py`` checks the result.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DISTRIBUTION = "cv-course-labkit"  # labkit on PyPI is another project; the import name stays labkit
INSTALL_MARKER = "# Install labkit, the course's package"
# Lectures that train a network long enough to want a GPU open on a GPU runtime in Colab.
FIRST_GPU_LECTURE = 2
BADGE = re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[^/\s)]+/")


@dataclass(frozen=True)
class Release:
    """The repository and the release tag the notebooks are written for."""

    repo_url: str  # https://github.com/<owner>/<name>
    tag: str  # v<version>

    @property
    def github_path(self) -> str:
        return self.repo_url.removeprefix("https://github.com/")

    def badge_prefix(self) -> str:
        return f"https://colab.research.google.com/github/{self.github_path}/blob/{self.tag}/"

    def install_cell(self) -> str:
        """The second cell of every notebook: install labkit where it is missing, on Colab or Kaggle."""
        return f'''{INSTALL_MARKER} (the release these notebooks
# were written for) where it is missing: here on Colab and Kaggle; anywhere
# else this cell stops and prints the command to run yourself.
import importlib.util
import os
import sys

REPO, TAG = "{self.repo_url}", "{self.tag}"
if importlib.util.find_spec("labkit") is None:
    package = f"{DISTRIBUTION} @ git+{{REPO}}@{{TAG}}"
    on_colab = "google.colab" in sys.modules
    on_kaggle = "KAGGLE_KERNEL_RUN_TYPE" in os.environ
    if not (on_colab or on_kaggle):
        raise ModuleNotFoundError(
            f'labkit is missing: run  pip install "{{package}}"  '
            "(or, in a clone of the course, make venv)"
        )
    %pip install -q "{{package}}"'''


def read_release(root: Path) -> Release:
    """The repository URL from ``_config.yml`` and the tag ``v<version>`` from ``pyproject.toml``."""
    config = (root / "_config.yml").read_text(encoding="utf-8")
    block = re.search(r"^repository:\s*\n((?:[ \t]+.*\n?)+)", config, re.MULTILINE)
    url = re.search(r"^\s+url:\s*(\S+)", block.group(1), re.MULTILINE) if block else None
    if url is None:
        raise ValueError(f"{root / '_config.yml'}: no 'repository: url:' setting")
    project = (root / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE)
    if version is None:
        raise ValueError(f"{root / 'pyproject.toml'}: no version")
    return Release(repo_url=url.group(1).rstrip("/"), tag=f"v{version.group(1)}")


def lecture_number(stem: str) -> int:
    """``"04_object_detection_yolo"`` -> 4."""
    match = re.match(r"(\d+)_", stem)
    if match is None:
        raise ValueError(f"{stem}: a lecture's file name starts with its number, e.g. 04_...")
    return int(match.group(1))


def apply(nb: dict, stem: str, release: Release, where: str) -> None:
    """Point the badge at the release, write the install cell, and ask Colab for a GPU if it trains.

    The install cell (the first code cell, which must install labkit) is tagged ``remove-cell``: the
    book shows the lecture, not the plumbing that gets it running.
    """
    first = nb["cells"][0]
    text = "".join(first["source"]) if isinstance(first["source"], list) else first["source"]
    first["source"] = BADGE.sub(release.badge_prefix(), text).splitlines(keepends=True)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    install = code[0] if code else None
    if install is None or "pip install" not in "".join(install["source"]):
        raise ValueError(f"{where}: the first code cell must be the install cell (it runs `%pip install`)")
    install["source"] = release.install_cell().splitlines(keepends=True)
    tags = install.setdefault("metadata", {}).setdefault("tags", [])
    if "remove-cell" not in tags:
        tags.append("remove-cell")
    if lecture_number(stem) >= FIRST_GPU_LECTURE:
        nb.setdefault("metadata", {})["accelerator"] = "GPU"
        nb["metadata"]["colab"] = {"gpuType": "T4", "provenance": []}
