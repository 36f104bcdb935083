"""The Dockerfile interpreter behind the image test: it refuses what it does not implement, and
builds what it does as Docker would (stages, build args, COPY, RUN, the layer cache)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from facematch_testing.images.base_image import to_scratch
from facematch_testing.images.build import build_images
from facematch_testing.images.dockerfile import DockerIgnore, UnsupportedDockerfile, parse
from facematch_testing.images.layer_cache import LayerCache
from facematch_testing.images.python3_shim import pip_install_options

ROOT = Path(__file__).resolve().parents[2]
BASE = "public.ecr.aws/lambda/python:3.12"


@pytest.mark.parametrize(
    "line",
    ["WORKDIR /var/task", "RUN --mount=type=cache,target=/root/.cache pip install x", "COPY --chown=1 a /build/",
     "ENV NAME value", "CMD app.lambda_handler", "ARG NAME=${OTHER:-default}"],
)
def test_what_the_interpreter_does_not_implement_is_refused(line, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE}\n{line}\nCMD [\"app.handler\"]\n")
    (tmp_path / "a").write_text("")
    with pytest.raises(UnsupportedDockerfile):
        build_images(tmp_path / "Dockerfile", tmp_path, {"image": {}}, Path(sys.executable), tmp_path / "work")


def test_the_projects_dockerfiles_use_only_what_the_interpreter_implements():
    for dockerfile in ("functions/Dockerfile", "functions/authorizer/Dockerfile"):
        stages = parse((ROOT / dockerfile).read_text())
        assert stages[-1].instructions[-1].keyword == "CMD"


def test_image_paths_in_commands_are_moved_into_the_scratch_root():
    command = "PYTHONPATH=/build/app:/build/site-packages python3 -m x > /dev/null; cp /optional /opt/a /var/taskforce"
    assert to_scratch(command, Path("/s")) == (
        "PYTHONPATH=/s/build/app:/s/build/site-packages python3 -m x > /dev/null; cp /optional /s/opt/a /var/taskforce"
    )


def test_dockerignore_keeps_bytecode_out_of_the_image():
    ignore = DockerIgnore(ROOT)
    assert ignore.excludes("layers/facematch/__pycache__/weights.cpython-312.pyc")
    assert ignore.excludes("tests/unit/test_dockerfile.py")
    assert not ignore.excludes("layers/facematch/weights.py")


def test_pip_installs_take_any_manylinux_wheel_up_to_lambdas_glibc():
    options = pip_install_options(["-r", "requirements.txt"], "arm64", "3.12")
    platforms = [options[i + 1] for i, option in enumerate(options) if option == "--platform"]
    assert {"manylinux_2_34_aarch64", "manylinux_2_28_aarch64", "manylinux2014_aarch64"} <= set(platforms)
    assert "manylinux_2_35_aarch64" not in platforms
    assert "--only-binary=:all:" in options
    # pip builds a source distribution under --platform only for an install without dependencies.
    assert "--only-binary=:all:" not in pip_install_options(["--no-deps", "x"], "x86_64", "3.12")


# Each RUN stamps the time it ran: equal stamps are one run (shared or replayed), not two.
DOCKERFILE = """\
FROM {base} AS builder
COPY shared.txt /build/
RUN date +%s%N > /build/shared-run && cp /build/shared.txt /build/copied.txt
ARG NAME
RUN echo "$NAME" > /build/name && date +%s%N > /build/own-run

FROM {base}
COPY --from=builder /build ${{LAMBDA_TASK_ROOT}}
ENV NAME_FILE=${{LAMBDA_TASK_ROOT}}/name
CMD ["app.handler"]
"""


def lockstep_build(tmp_path: Path, cache: LayerCache | None, workdir: str) -> dict[str, dict[str, str]]:
    """Builds images a and b; returns each one's task root files."""
    (tmp_path / "Dockerfile").write_text(DOCKERFILE.format(base=BASE))
    args = {"a": {"NAME": "a"}, "b": {"NAME": "b"}}
    images = build_images(tmp_path / "Dockerfile", tmp_path, args, Path(sys.executable), tmp_path / workdir, cache=cache)
    for image in images.values():
        assert image.env["NAME_FILE"] == "/var/task/name"
        assert image.host_env()["NAME_FILE"] == f"{image.root}/var/task/name"
        assert image.cmd == ["app.handler"]
    return {name: {p.name: p.read_text() for p in image.task_root.iterdir()} for name, image in images.items()}


def test_images_of_one_dockerfile_share_their_common_steps_and_keep_their_own(tmp_path):
    (tmp_path / "shared.txt").write_text("from the context")
    files = lockstep_build(tmp_path, None, "work")

    assert files["a"]["shared-run"] == files["b"]["shared-run"]
    assert files["a"]["own-run"] != files["b"]["own-run"]
    assert (files["a"]["name"], files["b"]["name"]) == ("a\n", "b\n")
    assert files["a"]["copied.txt"] == files["b"]["copied.txt"] == "from the context"


def test_an_unchanged_step_is_replayed_from_the_layer_cache_and_a_changed_one_runs(tmp_path):
    cache = LayerCache(tmp_path / "cache")
    (tmp_path / "shared.txt").write_text("from the context")
    first = lockstep_build(tmp_path, cache, "first")
    assert lockstep_build(tmp_path, cache, "second") == first

    (tmp_path / "shared.txt").write_text("changed")
    third = lockstep_build(tmp_path, cache, "third")
    assert third["a"]["shared-run"] != first["a"]["shared-run"]
    assert third["b"]["copied.txt"] == "changed"
