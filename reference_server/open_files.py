"""The open-file limit (RLIMIT_NOFILE): every connection holds a descriptor, a server's stream as
much as a harness's client. The one place that raises it at start and says, in one line with the
fix, when it stays below what is asked; the reference server, the harness and `sse-chaos doctor`
all ask it."""

from __future__ import annotations

import contextlib
import resource
from dataclasses import dataclass
from pathlib import Path

# Descriptors a process holds besides its connections: logs, pipes to its children, the event
# loop's own, Playwright's.
OWN_FILES = 256
# Root may raise the hard limit up to the kernel's fs.nr_open, but no further than systemd's
# default hard limit (524288 since v240): far past any run here, and children inherit it, some of
# which close every descriptor up to the limit when they start.
ROOT_CEILING = 524_288
NR_OPEN = Path("/proc/sys/fs/nr_open")
UNLIMITED = resource.RLIM_INFINITY


@dataclass(frozen=True)
class OpenFileLimit:
    soft: int
    hard: int

    def needed_for(self, connections: int) -> int:
        return connections + OWN_FILES

    def allows(self, connections: int) -> bool:
        return self.soft == UNLIMITED or self.soft >= self.needed_for(connections)

    def connections(self, descriptors_each: int = 1) -> int:
        """How many connections the soft limit allows, each holding `descriptors_each` (a proxy: two)."""
        soft = ROOT_CEILING if self.soft == UNLIMITED else self.soft
        return max(0, soft - OWN_FILES) // descriptors_each

    def shown(self) -> str:
        return f"{_count(self.soft)} (hard {_count(self.hard)})"

    def fix(self, connections: int) -> str:
        """How to allow `connections`: the soft limit is raised at start, so only a hard limit below
        the need takes the user's hand (the shell, a systemd unit, a container runtime)."""
        need = self.needed_for(connections)
        if self.hard == UNLIMITED or self.hard >= need:
            return f"ulimit -n {need}"
        return (
            f"raise the hard limit: ulimit -Hn {need} as root before starting it, LimitNOFILE={need} in its "
            f"systemd unit, docker run --ulimit nofile={need}; on Kubernetes, the container runtime's LimitNOFILE"
        )

    def shortfall(self, connections: int, what: str) -> str | None:
        """One line when `connections` (which `what` names) need more descriptors than allowed."""
        if self.allows(connections):
            return None
        return (
            f"open-file limit {self.shown()} is below the {_count(self.needed_for(connections))} that {what} "
            f"need; fix: {self.fix(connections)}"
        )


def current_limit() -> OpenFileLimit:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return OpenFileLimit(soft, hard)


def raise_open_file_limit(nr_open: Path = NR_OPEN) -> OpenFileLimit:
    """Raise the soft limit to the hard one; where allowed (root, with CAP_SYS_RESOURCE), raise the
    hard limit first, up to fs.nr_open and ROOT_CEILING. What is refused stays as it was."""
    limit = current_limit()
    ceiling = _hard_ceiling(nr_open)
    if limit.hard != UNLIMITED and limit.hard < ceiling:
        _try_setting(limit.soft, ceiling)
    raised = current_limit()
    if raised.soft != raised.hard:
        _try_setting(raised.hard, raised.hard)
    return current_limit()


def _hard_ceiling(nr_open: Path) -> int:
    try:
        return min(int(nr_open.read_text().split()[0]), ROOT_CEILING)
    except (OSError, ValueError, IndexError):  # not Linux: the hard limit stays the system's
        return 0


def _try_setting(soft: int, hard: int) -> None:
    # refused: not root, a container without CAP_SYS_RESOURCE, macOS's OPEN_MAX
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _count(number: int) -> str:
    return "unlimited" if number == UNLIMITED else f"{number:,}"
