"""Partial transcripts that never flicker back: only the words two consecutive decodes of the
growing utterance agree on are shown, and what was shown is only ever extended."""

from __future__ import annotations


class StablePrefix:
    """The agreed prefix of a turn's successive transcripts (local agreement of two decodes)."""

    def __init__(self) -> None:
        self._previous: list[str] | None = None
        self.words: list[str] = []
        """The words shown so far."""

    @property
    def text(self) -> str:
        """The stable transcript so far."""
        return " ".join(self.words)

    def update(self, transcript: str) -> str | None:
        """Take the newest decode; return the newly stable words (None when nothing new)."""
        words = transcript.split()
        previous, self._previous = self._previous, words
        if previous is None:
            return None
        agreed: list[str] = []
        for old, new in zip(previous, words, strict=False):
            if old != new:
                break
            agreed.append(old)
        shown = len(self.words)
        if len(agreed) <= shown or agreed[:shown] != self.words:
            return None
        delta = agreed[shown:]
        self.words = agreed
        return " ".join(delta)
