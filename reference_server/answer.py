"""A deterministic stand-in for a model: the same request always yields the same chunks.

The vocabulary mixes ASCII with two-, three- and four-byte UTF-8 so that a proxy slicing
reads apart exercises a client's decoder.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass

_VOCABULARY = (
    "stream",
    "event",
    "proxy",
    "latency",
    "heartbeat",
    "resume",
    "answer",
    "search",
    "café",
    "naïve",
    "Zürich",
    "façade",
    "→",
    "≈",
    "東京",
    "データ",
    "🚀",
    "✓",
    "Ωmega",
    "the",
    "of",
    "and",
    "a",
    "to",
    "in",
    "is",
    "that",
    "on",
    "with",
    "for",
    "as",
)
_SOURCE_HOSTS = ("docs.example.org", "kb.example.net", "wiki.example.com")


@dataclass(frozen=True)
class Chunk:
    content: str
    tokens: int


@dataclass(frozen=True)
class AnswerRequest:
    query: str
    max_tokens: int
    temperature: float

    def _rng(self, salt: str) -> random.Random:
        key = f"{salt}\x00{self.query}\x00{self.max_tokens}\x00{self.temperature!r}"
        return random.Random(hashlib.sha256(key.encode()).digest())

    def chunks(self) -> Iterator[Chunk]:
        """Chunks of one to four tokens until `max_tokens` tokens have been produced."""
        rng = self._rng("chunks")
        produced = 0
        while produced < self.max_tokens:
            tokens = min(rng.randint(1, 4), self.max_tokens - produced)
            words = [rng.choice(_VOCABULARY) for _ in range(tokens)]
            yield Chunk(content="".join(f" {word}" for word in words), tokens=tokens)
            produced += tokens

    def sources(self) -> list[dict[str, str]]:
        rng = self._rng("sources")
        return [
            {"title": f"Source {n + 1}", "url": f"https://{rng.choice(_SOURCE_HOSTS)}/{rng.getrandbits(32):08x}"}
            for n in range(rng.randint(1, 3))
        ]
