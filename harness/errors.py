"""Errors the harness reports to its user as one clear line (CLI exit status 2)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


class HarnessError(Exception):
    """Base of every error meant for the user rather than a traceback."""


class ConfigurationError(HarnessError):
    """A scenario, profile or option is wrong."""


class EnvironmentProblem(HarnessError):
    """Something the run needs is missing or broken (Toxiproxy binary, a port, the target)."""


def describe_validation_error(path: Path, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{where}: {item['msg']}")
    return f"{path}: " + "; ".join(problems)
