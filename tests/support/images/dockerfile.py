"""Reading a Dockerfile into stages of instructions: exactly what FaceMatch's Dockerfiles use.

Anything else (another instruction, a flag, a variable form) is refused with its line number, so
a Dockerfile change that the image build in tests/support/image_build.py cannot honour fails the
test instead of being skipped over.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

KEYWORDS = ("FROM", "ARG", "ENV", "COPY", "RUN", "CMD")
# ${NAME} and $NAME only: Docker's ${NAME:-default} and friends are refused.
_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_]\w*)\}|(?P<bare>[A-Za-z_]\w*))")


class UnsupportedDockerfile(ValueError):
    """The Dockerfile uses something this interpreter does not implement."""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int

    def refuse(self, why: str) -> UnsupportedDockerfile:
        return UnsupportedDockerfile(f"line {self.line}: {self.keyword} {self.arguments!r}: {why}")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in _instructions(text):
        if instruction.keyword == "FROM":
            stages.append(_from(instruction))
        elif not stages:
            raise instruction.refuse("only FROM may come first")
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise UnsupportedDockerfile("no FROM instruction")
    return stages


def _instructions(text: str):
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        # Comments (and the `# syntax=` parser directive) are dropped, even inside a continuation.
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if not continued:
            keyword, _, arguments = " ".join(pending).partition(" ")
            pending = []
            if keyword.upper() not in KEYWORDS:
                raise UnsupportedDockerfile(f"line {start}: {keyword} is not supported")
            yield Instruction(keyword.upper(), arguments.strip(), start)


def _from(instruction: Instruction) -> Stage:
    words = instruction.arguments.split()
    if len(words) == 1:
        return Stage(words[0], None)
    if len(words) == 3 and words[1].upper() == "AS":
        return Stage(words[0], words[2])
    raise instruction.refuse("expected FROM IMAGE [AS NAME]")


def expand(text: str, scope: dict[str, str]) -> str:
    """Docker's variable substitution in ARG, ENV and COPY (an unset variable is empty)."""
    if "${" in _VARIABLE.sub("", text):
        raise UnsupportedDockerfile(f"unsupported variable form in {text!r}")
    return _VARIABLE.sub(lambda m: scope.get(m["braced"] or m["bare"], ""), text)


def assignments(instruction: Instruction, scope: dict[str, str]) -> list[tuple[str, str | None]]:
    """ARG NAME[=default] or ENV NAME=value ..., expanded; ARG without a default gives None."""
    pairs: list[tuple[str, str | None]] = []
    for word in shlex.split(instruction.arguments):
        name, equals, value = word.partition("=")
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise instruction.refuse(f"bad variable name {name!r}")
        if not equals and instruction.keyword == "ENV":
            raise instruction.refuse("only the ENV NAME=value form is supported")
        pairs.append((name, expand(value, scope) if equals else None))
    if instruction.keyword == "ARG" and len(pairs) != 1:
        raise instruction.refuse("one ARG per instruction")
    return pairs


@dataclass(frozen=True)
class Copy:
    sources: list[str]
    destination: str
    from_stage: str | None


def copy_arguments(instruction: Instruction, scope: dict[str, str]) -> Copy:
    words = [expand(word, scope) for word in shlex.split(instruction.arguments)]
    from_stage = None
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        if not flag.startswith("--from="):
            raise instruction.refuse(f"flag {flag} is not supported")
        from_stage = flag.removeprefix("--from=")
    if len(words) < 2:
        raise instruction.refuse("expected COPY SOURCE... DESTINATION")
    if len(words) > 2 and not words[-1].endswith("/"):
        raise instruction.refuse("several sources need a destination ending in /")
    return Copy(words[:-1], words[-1], from_stage)


def exec_form(instruction: Instruction) -> list[str]:
    """CMD ["module.function"]: the shell form has no meaning for a Lambda image."""
    try:
        command = json.loads(instruction.arguments)
    except json.JSONDecodeError:
        command = None
    if not (isinstance(command, list) and command and all(isinstance(word, str) for word in command)):
        raise instruction.refuse("only the exec (JSON) form is supported")
    return command


def run_command(instruction: Instruction) -> str:
    if instruction.arguments.startswith("--") or instruction.arguments.startswith("["):
        raise instruction.refuse("only the shell form without flags is supported")
    return instruction.arguments


class DockerIgnore:
    """The build context's .dockerignore: `**`, `*` and `?` patterns; `!` exceptions are refused."""

    def __init__(self, context: Path) -> None:
        path = context / ".dockerignore"
        lines = path.read_text().splitlines() if path.exists() else []
        patterns = [line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")]
        if any(pattern.startswith("!") for pattern in patterns):
            raise UnsupportedDockerfile(".dockerignore exceptions (!) are not supported")
        self._patterns = [re.compile(_pattern_regex(pattern)) for pattern in patterns]

    def excludes(self, relative_path: str) -> bool:
        # A pattern that matches a folder excludes everything below it.
        parts = relative_path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(pattern.fullmatch(prefix) for pattern in self._patterns for prefix in prefixes)


def _pattern_regex(pattern: str) -> str:
    regex = ""
    for token in re.split(r"(\*\*/?|\*|\?)", pattern):
        if token in ("**", "**/"):
            regex += "(?:.*/)?" if token == "**/" else ".*"
        elif token == "*":
            regex += "[^/]*"
        elif token == "?":
            regex += "[^/]"
        else:
            regex += re.escape(token)
    return regex
