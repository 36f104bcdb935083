"""The Architecture parameter of template.yaml: what `sam build` makes of it, and whether pip finds
a wheel of every pinned requirement for each architecture it allows.

These machines cannot run arm64 images, so these checks are all there is for arm64 here: the
images themselves are built and invoked for x86_64 only (test_lambda_images.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from facematch_local.resources import TEMPLATE, load_template
from facematch_testing.images.base_image import dockerfile_python_version
from facematch_testing.images.python3_shim import pip_install_options

ROOT = TEMPLATE.parent
ARCHITECTURES = load_template()["Parameters"]["Architecture"]["AllowedValues"]
PYTHON_VERSION = dockerfile_python_version(ROOT / "functions" / "Dockerfile")
# x86_64's wheels are installed by the image build itself (test_lambda_images.py).
OTHER_ARCHITECTURES = [architecture for architecture in ARCHITECTURES if architecture != "x86_64"]


# Run in the SAM CLI's own environment (make check's and make test's .venv-sam): its function
# provider is what `sam build` reads the template with.
SAM_PYTHON = os.environ.get("FACEMATCH_SAM_PYTHON", ".venv-sam/bin/python")
PLATFORMS = """
import json, sys
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.docker.utils import get_docker_platform
stacks, _ = SamLocalStackProvider.get_stacks(sys.argv[1], parameter_overrides={"Architecture": sys.argv[2]})
print(json.dumps(sorted({(f.architecture, get_docker_platform(f.architecture)) for f in SamFunctionProvider(stacks).get_all()})))
"""


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_sam_build_builds_every_function_for_the_architecture_parameter(architecture):
    done = subprocess.run(
        [SAM_PYTHON, "-c", PLATFORMS, str(TEMPLATE), architecture],
        capture_output=True, text=True, env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected_platform = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}[architecture]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[architecture, expected_platform]]


@pytest.mark.network
@pytest.mark.parametrize("architecture", OTHER_ARCHITECTURES)
def test_every_requirement_of_the_face_images_has_a_wheel_for_the_architecture(architecture, tmp_path):
    """requirements.txt and what it pulls in; not tensorflow-cpu (WITH_TENSORFLOW=true), which
    publishes no aarch64 wheel (docs/operations.md, Cost)."""
    report = tmp_path / "report.json"
    # A dry run resolves the whole dependency tree from the wheels' metadata, without downloading them.
    arguments = ["--dry-run", "--ignore-installed", "--quiet", "--report", str(report), "--target", str(tmp_path / "target"),
                 "-r", str(ROOT / "layers" / "requirements.txt")]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", *arguments, *pip_install_options(arguments, architecture, PYTHON_VERSION)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    wheels = [item["download_info"]["url"].rsplit("/", 1)[-1] for item in json.loads(report.read_text())["install"]]
    assert wheels and all(wheel.endswith(".whl") for wheel in wheels)
