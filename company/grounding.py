"""Text matching for the notebook, without a model: is a quoted source really in the Boss's
words, is a note grounded in them, are two notes the same, how relevant is a note to a request.

Words are compared after NFKC normalisation and case folding, as ``\\w+`` runs (so punctuation,
quote styles and spacing never matter); content words leave out common English function words
and get a crude suffix stem (``seats`` ~ ``seat``, ``prefers`` ~ ``prefer``)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

MERGE_JACCARD = 0.8
"""Two notes of one kind are the same when their content-word sets overlap this much (and
they name the same numbers)."""
MIN_COVERAGE = 0.5
"""A note is grounded when at least this share of its content words are the Boss's."""
MIN_SOURCE_WORDS = 2
"""A quoted source shorter than this (in words) proves nothing, unless it is the whole request."""

STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be been before being below between
both but by can could did do does doing down during each few for from further had has have
having he her here hers him his how i if in into is it its itself just let me more most my no
nor not now of off on once only or other our ours out over own please same she should so some
such than that the their theirs them then there these they this those through to too under
until up very was we were what when where which while who whom why will with would you your
yours s t d ll m re ve boss user
""".split())


def normalise(text: str) -> str:
    """``text`` in NFKC, case-folded, with every run of whitespace one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def words(text: str) -> list[str]:
    """The normalised ``\\w+`` words of ``text``, in order."""
    return re.findall(r"\w+", normalise(text))


def stem(word: str) -> str:
    """A crude English stem: a plural ``s`` or an ``ing``/``ed`` ending cut off."""
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def content_words(text: str) -> set[str]:
    """The stems of the words of ``text`` that carry meaning (no function words)."""
    return {stem(w) for w in words(text) if w not in STOPWORDS}


def numbers(text: str) -> set[str]:
    """The words of ``text`` that hold a digit (``14``, ``5pm``, ``2025``)."""
    return {w for w in words(text) if any(c.isdigit() for c in w)}


def found_in(source: str, said: str) -> bool:
    """Whether ``source`` is a run of the words of ``said`` (at least MIN_SOURCE_WORDS of
    them, or all of ``said``)."""
    needle, hay = words(source), words(said)
    if not needle or (len(needle) < MIN_SOURCE_WORDS and needle != hay):
        return False
    n = len(needle)
    return any(hay[i:i + n] == needle for i in range(len(hay) - n + 1))


def coverage(text: str, reference: str) -> float:
    """The share of the content words of ``text`` that ``reference`` has too (0 when
    ``text`` has none)."""
    mine = content_words(text)
    return len(mine & content_words(reference)) / len(mine) if mine else 0.0


def grounded_idea(text: str, source: str, said: str) -> bool:
    """An idea is the Boss's when its source is found in ``said``, every number of the idea
    is in that source, and most of its content words are the Boss's (the whole request's: an
    idea may name whom the quoted ``she`` is)."""
    return (found_in(source, said) and numbers(text) <= numbers(source)
            and coverage(text, said) >= MIN_COVERAGE)


def item_source(text: str, source: str, said: str) -> str | None:
    """The Boss's words an action item came from: its own source when found in ``said``, else
    the sentence of ``said`` that shares the most content words with it; None when the item
    is not grounded (a number the Boss never said, or mostly words the Boss never said)."""
    if not numbers(text) <= numbers(said) or coverage(text, said) < MIN_COVERAGE:
        return None
    if found_in(source, said):
        return source.strip()
    return best_sentence(text, said)


def best_sentence(text: str, said: str) -> str:
    """The sentence (or line) of ``said`` sharing the most content words with ``text``."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?;])\s+|\n+", said) if s.strip()]
    mine = content_words(text)
    return max(sentences, key=lambda s: len(mine & content_words(s)), default=said.strip())


def same_note(a: str, b: str) -> bool:
    """Whether two texts say the same: equal once normalised, or the same numbers and
    content-word sets whose Jaccard index is at least MERGE_JACCARD."""
    if normalise(a) == normalise(b):
        return True
    if numbers(a) != numbers(b):
        return False
    x, y = content_words(a), content_words(b)
    return bool(x | y) and len(x & y) / len(x | y) >= MERGE_JACCARD


def overlap(query: set[str], texts: Iterable[str]) -> int:
    """How many of the ``query`` content words the texts hold."""
    have: set[str] = set()
    for text in texts:
        have |= content_words(text)
    return len(query & have)


def as_number(value: Any) -> float | None:
    """A value as a number: ints, floats and numeric text ("42", " 12.5 "); None otherwise
    (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
