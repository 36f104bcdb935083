"""The facematch CLI (cli/) is a package of its own: it imports only the standard library and
the dependencies it declares, and installs and runs alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from facematch_testing.imports import imports_in, normalized, unprovided

CLI = Path(__file__).resolve().parents[2] / "cli"


def declared() -> dict[str, str]:
    """The CLI's declared dependencies: each distribution's name (normalized) and its pin."""
    project = tomllib.loads((CLI / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, _, version = requirement.partition("==")
        pins[normalized(name)] = version
    return pins


def test_the_cli_imports_only_the_standard_library_and_its_declared_dependencies():
    imported = imports_in(CLI / "facematch_cli")
    missing = unprovided(set(imported), {"facematch_cli"}, set(declared()))
    assert not missing, {name: sorted(map(str, imported[name])) for name in missing}
    assert "facematch" not in imported  # the service's package is not installed with the CLI


def test_the_cli_pins_each_dependency_at_the_version_the_tests_run():
    pins = declared()
    assert all(pins.values()), pins  # every one pinned with ==
    dev = {}
    for line in (CLI.parent / "requirements-dev.txt").read_text().splitlines():
        name, _, version = line.split("#", 1)[0].strip().partition("==")
        if version:
            dev[normalized(name.split("[")[0])] = version
    assert {name: dev.get(name) for name in pins} == pins


@pytest.mark.network
def test_the_cli_installs_alone_into_a_fresh_venv_and_runs(tmp_path):
    # From a copy: building the package writes build/ next to its sources.
    source = shutil.copytree(CLI, tmp_path / "cli", ignore=shutil.ignore_patterns("*.egg-info", "build"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", str(source)],
        check=True, capture_output=True, timeout=600,
    )
    result = subprocess.run([venv / "bin" / "facematch", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for command in ("enroll", "compare", "health", "sweep", "keys"):
        assert command in result.stdout
    facematch = subprocess.run([venv / "bin" / "python", "-c", "import facematch"], capture_output=True)
    assert facematch.returncode != 0  # nothing of the service came along
