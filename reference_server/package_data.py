"""Folders of data files shipped inside this distribution's packages."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped_folder(package: str, name: str) -> Path:
    """`name` inside `package`, as a path. pip and uv install a wheel as files, so importlib.resources
    hands back a real folder, which Quart serves from and the loaders name in their errors."""
    folder = files(package) / name
    assert isinstance(folder, Path), f"{package} is not installed as files ({folder})"
    return folder
