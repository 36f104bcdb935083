"""Secrets: an SSM Parameter Store SecureString in the cloud, or the value itself in the local stack.

Parameters are read through Powertools' parameters utility, which keeps each value for
``max_age`` seconds: a rotated secret takes effect in every warm process within that time.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters
from pydantic import SecretStr


def secret_value(value: SecretStr | None, parameter: str | None, max_age: int) -> str | None:
    """The secret given directly, else the parameter's (cached at most ``max_age`` s), else None."""
    if value is not None:
        return value.get_secret_value()
    if parameter:
        return parameters.get_parameter(parameter, decrypt=True, max_age=max_age)
    return None
