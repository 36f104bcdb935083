"""The runtime package (layers/facematch) is what every Lambda image copies: it imports only the
standard library, itself, and what layers/requirements*.txt installs into the images. The local
stack (local/), the CLI (cli/) and the tests bring moto, werkzeug, yaml, typer, httpx and rich:
none of them is in an image."""

from __future__ import annotations

import re
from importlib.metadata import requires
from pathlib import Path

import pytest

from facematch_testing.images.dockerfile import DockerIgnore, parse
from facematch_testing.imports import imports_in, imports_of, normalized, requirement_names, unprovided

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ROOT / "layers"
# Imported by FaceMatch itself, installed by a listed distribution that pins it to its own release.
INSTALLED_WITH = {"botocore": "boto3"}
# Listed in requirements.txt for a dependency, not for FaceMatch: DeepFace imports werkzeug without
# declaring it. FaceMatch's own code must not count on it (the authorizer's image lacks it).
LISTED_FOR_OTHERS = {"werkzeug"}


def runtime_distributions() -> set[str]:
    listed: set[str] = set()
    for path in LAYERS.glob("requirements*.txt"):
        listed |= requirement_names(path)
    return (listed - LISTED_FOR_OTHERS) | set(INSTALLED_WITH)


def test_the_runtime_package_imports_only_what_the_images_install():
    imported = imports_in(LAYERS / "facematch")
    missing = unprovided(set(imported), {"facematch"}, runtime_distributions())
    assert not missing, {name: sorted(str(p.relative_to(ROOT)) for p in imported[name]) for name in missing}


@pytest.mark.parametrize("module", ["moto", "werkzeug", "yaml", "typer", "httpx", "rich"])
@pytest.mark.parametrize("statement", ["import {}.sub", "def f():\n    from {} import x\n"])
def test_a_local_stack_or_test_dependency_in_the_runtime_package_fails(module, statement):
    assert unprovided(imports_of(statement.format(module)), {"facematch"}, runtime_distributions()) == {module}


def test_what_is_installed_with_a_listed_distribution_is_its_declared_dependency():
    for module, distribution in INSTALLED_WITH.items():
        assert normalized(distribution) in requirement_names(LAYERS / "requirements-core.txt")
        declared = {normalized(re.split(r"[\[<>=!~; (]", r, maxsplit=1)[0]) for r in requires(distribution) or []}
        assert normalized(module) in declared


def test_the_images_copy_only_the_runtime_package_and_their_handler():
    ignore = DockerIgnore(ROOT)
    assert ignore.excludes("local/gateway.py") and ignore.excludes("cli/facematch_cli/main.py")
    for dockerfile in ("functions/Dockerfile", "functions/authorizer/Dockerfile"):
        copied = {
            source
            for stage in parse((ROOT / dockerfile).read_text())
            for instruction in stage.instructions
            if instruction.keyword == "COPY" and "--from" not in instruction.arguments
            for source in instruction.arguments.split()[:-1]
        }
        code = {source for source in copied if not source.endswith((".txt", ".json"))}
        assert code <= {"layers/facematch", "functions/${FUNCTION}/app.py", "functions/authorizer/app.py"}, code
