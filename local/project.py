"""Where the project is: the one root the local stack reads template.yaml, openapi.json and
functions/ from.

``FACEMATCH_PROJECT_ROOT`` (the Makefile sets it to its own folder; the tests to the checkout),
else the current directory. Read once, at import.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT_VARIABLE = "FACEMATCH_PROJECT_ROOT"


def project_root() -> Path:
    return Path(os.environ.get(ROOT_VARIABLE) or os.getcwd()).resolve()


ROOT = project_root()
TEMPLATE = ROOT / "template.yaml"
OPENAPI_FILE = ROOT / "openapi.json"
