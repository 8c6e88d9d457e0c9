"""pyproject.toml, constraints.txt and environment.yml describe one environment."""
from pathlib import Path
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {canonicalize_name(Requirement(r).name): Requirement(r) for r in reqs}


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        name, version = line.split("==")
        pins[canonicalize_name(name)] = version
    return pins


def _constraints() -> dict[str, str]:
    return _pins((ROOT / "constraints.txt").read_text().splitlines())


def _conda_pip_section() -> list[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    return pip_sections[0]


def test_pyproject_declares_lower_bounds_only():
    for name, req in _pyproject_requirements().items():
        for spec in req.specifier:
            assert spec.operator in (">=", "<"), f"{name}: pin exact versions in constraints.txt, not pyproject"


def test_constraints_pin_every_declared_dependency_within_its_bounds():
    pins = _constraints()
    for name, req in _pyproject_requirements().items():
        assert name in pins, f"constraints.txt does not pin {name}"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {req}"


def test_tested_stack_is_the_documented_one():
    pins = _constraints()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert int(pins["opencv-python"].split(".")[0]) < 5
    assert int(pins["opencv-python-headless"].split(".")[0]) < 5
    assert pins["jupyter-book"].startswith("1.")


def test_conda_environment_matches_pyproject_and_constraints():
    section = _conda_pip_section()
    assert "-e ." in section, "environment.yml must install labkit itself (-e .)"
    conda_pins = _pins(section)
    declared = set(_pyproject_requirements())
    missing = declared - set(conda_pins)
    assert not missing, f"environment.yml lacks {sorted(missing)}"
    constraints = _constraints()
    for name, version in conda_pins.items():
        assert constraints.get(name) == version, (
            f"environment.yml pins {name}=={version}, constraints.txt has {constraints.get(name)}")


def test_conda_environment_uses_the_tested_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_the_readme_links_the_published_book_of_the_repository_setting():
    """The book's address follows from _config.yml's repository (GitHub Pages: owner.github.io/name)."""
    import re

    config = (ROOT / "_config.yml").read_text()
    owner, name = re.search(r"url: https://github\.com/([\w.-]+)/([\w.-]+)", config).groups()
    assert f"https://{owner}.github.io/{name}/" in (ROOT / "README.md").read_text()
    workflow = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    assert "actions/deploy-pages" in workflow and "make book" in workflow
