"""The local stack, started once for the module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from facematch_testing.stack import LocalStack, start_stack


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory) -> Iterator[LocalStack]:
    stack = start_stack(tmp_path_factory.mktemp("stack") / "make-run.log")
    yield stack
    if stack.process.poll() is None:
        stack.stop()
