"""Put in a fresh environment's site-packages with a .pth line that imports it (scripts/check-wheel):
every Python process of that environment then refuses, and records, any file, folder or program
inside $SSE_CHAOS_SOURCE_TREE that it opens, lists, enters or runs. A runtime path of the installed
tool that still reaches into the checkout fails the check, even where the caller swallows the error."""

from __future__ import annotations

import os
import sys
from typing import Any

_ROOT = os.environ.get("SSE_CHAOS_SOURCE_TREE", "")
_LOG = os.environ.get("SSE_CHAOS_SOURCE_TREE_LOG", "")
_FIRST_ARGUMENT_IS_A_PATH = {"open", "os.listdir", "os.scandir", "os.chdir", "os.exec", "os.posix_spawn"}


class SourceTreeReached(RuntimeError):
    pass


def _paths(event: str, args: tuple[Any, ...]) -> list[Any]:
    if event in _FIRST_ARGUMENT_IS_A_PATH:
        return [args[0]]
    if event == "subprocess.Popen":  # (executable, args, cwd, env)
        executable, argv, cwd = args[0], args[1], args[2]
        program = argv[0] if isinstance(argv, list | tuple) and argv else argv
        return [executable, program, cwd]
    return []


def inside_source_tree(path: Any, root: str = _ROOT) -> bool:
    if not root or not isinstance(path, str | bytes | os.PathLike):
        return False
    resolved = os.path.realpath(os.fsdecode(path))
    return resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep)


def _refuse_the_source_tree(event: str, args: tuple[Any, ...]) -> None:
    for path in _paths(event, args):
        if inside_source_tree(path):
            with open(_LOG, "a") as log:
                log.write(f"{os.getpid()} {event} {os.fsdecode(path)}\n")
            raise SourceTreeReached(f"{event} reached into the source tree: {os.fsdecode(path)}")


if _ROOT and _LOG:
    sys.addaudithook(_refuse_the_source_tree)
