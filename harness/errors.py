"""Errors the harness reports to its user as one clear line (CLI exit status 2)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class HarnessError(Exception):
    """Base of every error meant for the user rather than a traceback."""


class ConfigurationError(HarnessError):
    """A scenario, profile or option is wrong."""


class EnvironmentProblem(HarnessError):
    """Something the run needs is missing or broken (Toxiproxy binary, a port, the target)."""


class Missing(EnvironmentProblem):
    """Something the run needs is not there: what is missing, and how to fix it (`sse-chaos doctor`
    shows the two apart)."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}: {fix}")
        self.what = what
        self.fix = fix


def describe_validation_error(source: Path | str, error: ValidationError) -> str:
    """One line naming where the problem is (a file, or `-P` on the command line) and each key."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{where}: {item['msg']}")
    return f"{source}: " + "; ".join(problems)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's tables; a missing or malformed file is one ConfigurationError line."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such {what} file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path}: not valid TOML: {error}") from None


def load_toml_model(path: Path, model: type[Model], what: str) -> Model:
    """Read a TOML file into a validated model; every problem is one ConfigurationError line."""
    raw = read_toml(path, what)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(path, error)) from None
