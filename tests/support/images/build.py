"""Building Lambda images from their Dockerfiles without Docker: every step, in scratch roots.

The base image is stood in for as tests/support/base_image.py describes. RUN commands run under
`bash -c` in the stage's scratch root, with the image paths in them rewritten into it; `python3`
is the base image's Python, through tests/support/images/python3_shim.py, which makes each `pip install`
take wheels for Lambda's platform instead of this machine's.

Images built from one Dockerfile (the two face functions) are built in lockstep: while their steps
and variables are the same, they share one root and each step runs once, as Docker's cache would
have it; where they part, the root is copied. A LayerCache keeps each RUN step's changes between
runs, keyed like Docker's build cache.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from facematch_testing.images.base_image import (
    BASE_ENV,
    MAPPED_FOLDERS,
    MAPPED_PATH,
    BuiltImage,
    base_python_version,
    to_scratch,
)
from facematch_testing.images.dockerfile import (
    DockerIgnore,
    Instruction,
    UnsupportedDockerfile,
    assignments,
    copy_arguments,
    exec_form,
    parse,
    run_command,
)
from facematch_testing.images.layer_cache import LayerCache, listing

SHIM = Path(__file__).with_name("python3_shim.py")
# What a RUN step sees of this machine: how pip reaches the package index (configuration, proxy,
# certificates). Nothing else, so the test environment cannot hide a missing dependency.
_PASSED_ON = re.compile(r"PIP_\w+|(?i:https?_proxy|no_proxy)|SSL_CERT_\w+|HOME")


class BuildFailed(RuntimeError):
    """A RUN step exited with an error."""


@dataclass
class _State:
    """One image's view of the stage being built: what is in scope and its cache key so far."""

    key: str
    scope: dict[str, str] = field(default_factory=lambda: dict(BASE_ENV))  # ARG and ENV values
    env: dict[str, str] = field(default_factory=lambda: dict(BASE_ENV))  # ENV only: what the image keeps
    cmd: list[str] | None = None


class LockstepBuild:
    """Builds one Dockerfile for several sets of build args (one per image) in ``workdir``."""

    def __init__(self, dockerfile: Path, context: Path, python: Path, workdir: Path, architecture: str,
                 cache: LayerCache | None) -> None:
        self.stages = parse(dockerfile.read_text())
        self.cache = cache
        self.context = context.resolve()
        self.ignore = DockerIgnore(context)
        self.architecture = architecture
        self.python = python
        self.workdir = workdir
        self._roots = 0
        self._shim_folder = workdir / "bin"
        self._shim_folder.mkdir(parents=True, exist_ok=True)
        shim = self._shim_folder / "python3"
        shim.write_text(f'#!/bin/sh\nexec "{python}" -I -S "{SHIM}" {architecture} "$@"\n')
        shim.chmod(0o755)

    def build(self, build_args: dict[str, dict[str, str]]) -> dict[str, BuiltImage]:
        self._check_build_args(build_args)
        finished: dict[str, dict[str, tuple[Path, str]]] = {image: {} for image in build_args}
        for index, stage in enumerate(self.stages):
            base_python_version(stage.base)
            start = _digest(stage.base, self.architecture, str(self.python.resolve()), SHIM.read_text(),
                            datetime.date.today().isocalendar()[:2])
            states = {image: _State(key=start) for image in build_args}
            roots = {start: self._new_root()}
            for instruction in stage.instructions:
                roots = self._step(instruction, states, roots, build_args, finished)
            for image, state in states.items():
                for name in {stage.name, str(index)} - {None}:
                    finished[image][name] = (roots[state.key], state.key)
        # `states` and `roots` are now the final stage's: the images.
        images = {}
        for image, state in states.items():
            if state.cmd is None:
                raise UnsupportedDockerfile("the final stage has no CMD")
            images[image] = BuiltImage(roots[state.key], state.env, state.cmd, self.python)
        return images

    def _check_build_args(self, build_args: dict[str, dict[str, str]]) -> None:
        """Docker only warns about a build arg no ARG declares; here a misspelt one fails."""
        declared = {
            i.arguments.partition("=")[0].strip() for s in self.stages for i in s.instructions if i.keyword == "ARG"
        }
        for image, args in build_args.items():
            if set(args) - declared:
                raise UnsupportedDockerfile(f"{image}: build args {sorted(set(args) - declared)} match no ARG")

    def _step(self, instruction: Instruction, states: dict[str, _State], roots: dict[str, Path],
              build_args: dict[str, dict[str, str]], finished: dict[str, dict[str, tuple[Path, str]]],
              ) -> dict[str, Path]:
        previous = {image: state.key for image, state in states.items()}
        for image, state in states.items():
            self._declare(instruction, state, build_args[image])
            sources = self._source_identity(instruction, state, finished[image])
            scope = sorted(state.scope.items())
            state.key = _digest(state.key, instruction.keyword, instruction.arguments, scope, sources)
        # Fork before running anything: each branch starts from its parent as it was before this step.
        new_roots: dict[str, Path] = {}
        runs: list[tuple[str, _State]] = []
        for image, state in states.items():
            if state.key not in new_roots:
                parent = roots[previous[image]]
                new_roots[state.key] = self._fork(parent) if parent in new_roots.values() else parent
                runs.append((image, state))
        for image, state in runs:
            if instruction.keyword == "COPY":
                self._copy(instruction, state, new_roots[state.key], finished[image])
            elif instruction.keyword == "RUN":
                self._run_or_replay(instruction, state, new_roots[state.key])
        return new_roots

    def _declare(self, instruction: Instruction, state: _State, build_args: dict[str, str]) -> None:
        if instruction.keyword == "ARG":
            [(name, default)] = assignments(instruction, state.scope)
            value = build_args.get(name, default)
            if value is not None:
                state.scope[name] = value
        elif instruction.keyword == "ENV":
            for name, value in assignments(instruction, state.scope):
                state.scope[name] = state.env[name] = value
        elif instruction.keyword == "CMD":
            state.cmd = exec_form(instruction)

    def _source_identity(self, instruction: Instruction, state: _State,
                         finished: dict[str, tuple[Path, str]]) -> str:
        """What a COPY reads: the files' content from the context, the stage's key from a stage."""
        if instruction.keyword != "COPY":
            return ""
        copy = copy_arguments(instruction, state.scope)
        if copy.from_stage is not None:
            if copy.from_stage not in finished:
                raise instruction.refuse(f"no earlier stage {copy.from_stage}")
            return finished[copy.from_stage][1]
        digest = hashlib.sha256()
        for source in copy.sources:
            for path in sorted(self._context_files(self._context_origin(source, instruction))):
                digest.update(str(path.relative_to(self.context)).encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    def _copy(self, instruction: Instruction, state: _State, root: Path,
              finished: dict[str, tuple[Path, str]]) -> None:
        copy = copy_arguments(instruction, state.scope)
        destination = _inside(root, copy.destination, instruction)
        for source in copy.sources:
            if copy.from_stage is None:
                origin, ignore, copy_file = self._context_origin(source, instruction), self._ignored, shutil.copy2
            else:
                # Hard links: an earlier stage is never written again, and this saves copying 500 MB.
                origin, ignore, copy_file = _inside(finished[copy.from_stage][0], source, instruction), None, _link
            if origin.is_dir():  # a folder's contents go into the destination, not the folder itself
                shutil.copytree(origin, destination, symlinks=True, dirs_exist_ok=True, ignore=ignore,
                                copy_function=copy_file)
                continue
            if not origin.exists():
                raise instruction.refuse(f"{source} not found")
            into_folder = copy.destination.endswith("/") or destination.is_dir()
            target = destination / origin.name if into_folder else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_symlink():
                shutil.copy2(origin, target, follow_symlinks=False)
            else:
                copy_file(origin, target)

    def _context_origin(self, source: str, instruction: Instruction) -> Path:
        if any(char in source for char in "*?["):
            raise instruction.refuse(f"COPY wildcards are not supported: {source}")
        origin = (self.context / source).resolve()
        if not origin.is_relative_to(self.context):
            raise instruction.refuse(f"{source} is outside the build context")
        if self.ignore.excludes(str(origin.relative_to(self.context))):
            raise instruction.refuse(f"{source} is excluded by .dockerignore")
        return origin

    def _context_files(self, origin: Path) -> list[Path]:
        if not origin.is_dir():
            return [origin] if origin.exists() else []
        files = []
        for folder, folders, names in os.walk(origin):
            kept = [name for name in folders + names if not self.ignore.excludes(self._relative(Path(folder) / name))]
            folders[:] = [name for name in folders if name in kept]
            files += [Path(folder) / name for name in names if name in kept]
        return files

    def _ignored(self, folder: str, names: list[str]) -> list[str]:
        return [name for name in names if self.ignore.excludes(self._relative(Path(folder) / name))]

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self.context))

    def _run_or_replay(self, instruction: Instruction, state: _State, root: Path) -> None:
        if self.cache is None:
            self._run(instruction, state, root)
        elif not self.cache.replay(state.key, root):
            before = listing(root)
            self._run(instruction, state, root)
            self.cache.record(state.key, root, before)

    def _run(self, instruction: Instruction, state: _State, root: Path) -> None:
        env = {name: value for name, value in os.environ.items() if _PASSED_ON.fullmatch(name)}
        env.update(PATH=f"{self._shim_folder}:/usr/local/bin:/usr/bin:/bin", LANG="C.UTF-8", PYTHONNOUSERSITE="1")
        env.update({name: to_scratch(value, root) for name, value in state.scope.items()})
        command = to_scratch(run_command(instruction), root)
        done = subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-4000:]
            raise BuildFailed(f"line {instruction.line}: RUN {instruction.arguments}\nexit {done.returncode}\n{output}")

    def _new_root(self) -> Path:
        self._roots += 1
        root = self.workdir / f"root{self._roots}"
        for folder in MAPPED_FOLDERS:
            (root / folder.lstrip("/")).mkdir(parents=True)
        return root

    def _fork(self, parent: Path) -> Path:
        self._roots += 1
        root = self.workdir / f"root{self._roots}"
        shutil.copytree(parent, root, symlinks=True)
        return root


def _inside(root: Path, image_path: str, instruction: Instruction) -> Path:
    if not MAPPED_PATH.match(image_path):
        raise instruction.refuse(f"{image_path} is outside the folders the build maps: {MAPPED_FOLDERS}")
    return Path(to_scratch(image_path, root))


def _link(source: Path | str, target: Path | str) -> None:
    """COPY replaces what the destination held, so a link never writes through to another file."""
    if os.path.lexists(target):
        os.unlink(target)
    os.link(source, target)


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def build_images(dockerfile: Path, context: Path, build_args: dict[str, dict[str, str]], python: Path,
                 workdir: Path, architecture: str = "x86_64", cache: LayerCache | None = None,
                 ) -> dict[str, BuiltImage]:
    """One image per entry of ``build_args`` (image name -> its build args)."""
    workdir.mkdir(parents=True, exist_ok=True)
    return LockstepBuild(dockerfile, context, python, workdir, architecture, cache).build(build_args)

