"""The template's Lambda functions: where each handler is, and running them in this process.

In-process invocation serves the tests (under moto's in-process mock) and the OpenAPI
generator; ``make run`` runs each function in its own worker process (``facematch_local.workers``).
"""

from __future__ import annotations

import importlib.util
import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from facematch_local.context import LambdaContext
from facematch_local.project import ROOT
from facematch_local.resources import load_template, resolved

_CMD = re.compile(r'^CMD\s*\[\s*"([\w.]+)\.(\w+)"\s*\]', re.MULTILINE)


class FunctionError(Exception):
    """An invocation failed as Lambda reports it: the handler raised, or its runtime died.

    The message is the handler's error message (an authorizer's "Unauthorized" included); the
    trace is where it was raised, for the log.
    """

    def __init__(self, message: str, trace: str = "") -> None:
        super().__init__(message)
        self.trace = trace

    @classmethod
    def raised(cls, error: Exception) -> FunctionError:
        """The failure of a handler that raised ``error`` (call from its ``except`` block)."""
        return cls(str(error) or type(error).__name__, traceback.format_exc())


class FunctionTimedOut(FunctionError):
    """The invocation ran past the function's Timeout."""


@dataclass(frozen=True)
class FunctionSpec:
    """What Lambda knows of a function: the handler its image's CMD names, its memory and timeout."""

    name: str
    source: Path
    handler: str
    memory_mb: int
    timeout_s: int

    def context(self) -> LambdaContext:
        return LambdaContext(self.name, self.memory_mb, self.timeout_s)

    def import_module(self) -> ModuleType:
        """Import the handler's module: the function's init phase (model, clients) runs now."""
        name = f"{self.source.parent.name}_{self.source.stem}"
        spec = importlib.util.spec_from_file_location(name, self.source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


class Functions(Protocol):
    """How the local gateway and queue pollers invoke a function: in this process or in a worker."""

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]: ...


def function_specs(template: dict[str, Any] | None = None) -> dict[str, FunctionSpec]:
    template = template or load_template()
    defaults = template.get("Globals", {}).get("Function", {})
    specs = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        source, handler = _handler_command(resource["Metadata"])
        specs[name] = FunctionSpec(
            name=name,
            source=source,
            handler=handler,
            memory_mb=int(resolved(template, properties.get("MemorySize", defaults.get("MemorySize", 128)))),
            timeout_s=int(resolved(template, properties.get("Timeout", defaults.get("Timeout", 3)))),
        )
    return specs


class InProcessFunctions:
    """Every function's handler imported into this process, once (each init runs once).

    Only for one thread at a time per function, or for handlers whose native code is
    serialised process-wide (the face functions' is): Lambda never shares a process.
    """

    def __init__(
        self, template: dict[str, Any] | None = None, modules: dict[str, ModuleType] | None = None
    ) -> None:
        """``modules``: handler modules already imported, by function name (tests share theirs)."""
        self.specs = function_specs(template)
        self._modules: dict[str, ModuleType] = dict(modules or {})

    def module(self, function: str) -> ModuleType:
        if function not in self._modules:
            self._modules[function] = self.specs[function].import_module()
        return self._modules[function]

    def invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        spec = self.specs[function]
        handler = getattr(self.module(function), spec.handler)
        try:
            return handler(event, spec.context())
        except Exception as error:  # noqa: BLE001 - reported as Lambda reports a function error
            raise FunctionError.raised(error) from error


def _handler_command(metadata: dict[str, Any]) -> tuple[Path, str]:
    """The handler that the function's Dockerfile names in CMD: its source file and function.

    The source is in the function's folder: ``functions/<FUNCTION build arg>`` for the shared
    face Dockerfile, else the Dockerfile's own folder.
    """
    dockerfile = ROOT / metadata["Dockerfile"]
    module_name, attribute = _CMD.search(dockerfile.read_text()).groups()
    function = metadata.get("DockerBuildArgs", {}).get("FUNCTION")
    folder = dockerfile.parent / function if function else dockerfile.parent
    return folder / f"{module_name.replace('.', '/')}.py", attribute
