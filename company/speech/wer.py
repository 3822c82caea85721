"""Word error rate of a transcript against a reference, after Whisper's English normalisation."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence


@functools.cache
def _normalizer() -> Callable[[str], str]:
    """Whisper's ``EnglishTextNormalizer`` (numbers to digits, spellings, no punctuation)."""
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize_words(text: str) -> list[str]:
    """``text`` as normalised words: "What is six times seven?" -> ["what", "is", "6", ...]."""
    return _normalizer()(text).split()


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
            )
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Edits per reference word, both texts normalised (0.0 for identical, may exceed 1.0)."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else float(len(hyp))
    return edit_distance(ref, hyp) / len(ref)
