"""Checks on a report's narrative before it reaches the Boss: an empty answer, an answer that
repeats the prompt's instructions, a number in the answer's opening that nothing produced, and
a result the answer leaves out.

The rules, precisely:
- empty: nothing but whitespace.
- echo: a ``## Task:`` header line; or a line that is one of the prompt's section labels
  (a line of at most ``LABEL_WORDS`` words ending in a colon, such as "Step results:",
  Markdown marks and case aside); or a run of ``ECHO_RUN`` words (lower-cased ``\\w+``
  tokens) found in the same order in the prompt's instructions (the prompt rendered with its
  data left out, so quoting the request or the outputs never counts); or at least
  ``ECHO_SHARE`` of the answer's words, and ``ECHO_RUN`` words or more, lying in
  ``ECHO_SHINGLE``-word runs of the instructions (a copy in pieces); or a phrase of
  ``EXAMPLE_WORDS`` words or more that an example holds (a text quoted in the instructions; a
  worked example's quoted request text or error, its ``telltales``: 'good morning team') that
  the prompt's data (the Boss's words, the step results) does not hold.
- unknown number: a number written in the opening (the first ``OPENING_SENTENCES`` sentences,
  headings, table rows and the status line left out) that is not known. Known numbers are the
  numbers in the step outputs and errors, the plan's inputs, the Boss's words (digits, or number
  words such as "six" or "four hundred and twenty"), and the step count (0 to n). A written
  number matches a known one when equal as a decimal (42 = 42.0, 1,249.50 = 1249.5), or equal
  to it rounded or cut to the decimals written while keeping two significant digits (12.13 for
  12.132, 1.62 for 1.6288); an unsigned number also matches a negative known one (a loss of
  15 for -15), a signed one only its own sign; a percentage matches its value or its
  hundredth (12.5% for 0.125). A list of texts also makes its length known: "the list has 4
  parts" for a split into 4 texts.
- left out: a result the answer does not give (``Finding``): the numbers output by a step that
  completed and whose outputs no later step used, none of which the answer writes (anywhere in
  it, in digits or number words, matched as above). A step that counted words and characters
  needs one of the two. Asked "how many words …, and what is 12 times 12?", a 1.5B report gave
  the count and left out the 144.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

ECHO_RUN = 10
ECHO_SHINGLE = 5
ECHO_SHARE = 0.5
LABEL_WORDS = 5
OPENING_SENTENCES = 2
EXAMPLE_WORDS = 2
STATUS_PREFIX = "> ⚠ Unchecked:"

_TASK_HEADER = re.compile(r"^\s*#+\s*task\s*:", re.IGNORECASE | re.MULTILINE)
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-−]?)(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?(?P<pct>\s?%)?"
    r"(?!\.?\w)"
)
_LIST_MARKER = re.compile(r"^(?:[-*+•]\s+|\d+[.)]\s+|>\s*)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


QUOTED = re.compile(
    r"""(?<![\w'"])(?:'(?P<single>[^'\n]{2,}?)'|"(?P<double>[^"\n]{2,}?)"|"""
    r"""\u2018(?P<curly_single>[^\u2019\n]{2,}?)\u2019|\u201c(?P<curly>[^\u201d\n]{2,}?)\u201d)"""
    r"""(?![\w])""")
"""A quoted span: opened where no word or quote comes before, closed where no word follows (so
the apostrophes of "don't" and "it's" open nothing)."""


def quoted_spans(request: str) -> list[str]:
    """The texts the request puts in quotes, in order, without their quote marks."""
    found = []
    for match in QUOTED.finditer(request):
        text = next(group for group in match.groups() if group is not None).strip()
        if text and text not in found:
            found.append(text)
    return found


@dataclass(frozen=True)
class Problem:
    """What is wrong with an answer: ``kind`` (empty, echo, number, left_out; cut: ran past its
    bound), a sentence for people and the advice a re-ask gives the model."""

    kind: str
    message: str
    advice: str

    @property
    def reask(self) -> str:
        """The line a re-ask adds to the prompt."""
        return f"Your last answer was rejected: {self.message}. {self.advice}"

    @property
    def status_line(self) -> str:
        """The report's status line for an answer kept with this problem."""
        return f"{STATUS_PREFIX} {self.message}."


@dataclass(frozen=True)
class Finding:
    """A result the answer must give: a step's label ("s2 (calculate)") and the numbers it
    output, as known numbers and as the prompt showed them."""

    label: str
    numbers: KnownNumbers
    shown: str

    @property
    def said(self) -> str:
        """The finding as a problem names it: "s2 (calculate) gave 7245.2"."""
        return f"{self.label} gave {self.shown}"

    @classmethod
    def of(cls, label: str, outputs: dict[str, list[Any]]) -> Finding | None:
        """The finding of a step's outputs; None when they hold no number."""
        values = [value for found in outputs.values() for value in found
                  if isinstance(value, int | float) and not isinstance(value, bool)]
        if not values:
            return None
        numbers = KnownNumbers()
        numbers.add_values(values)
        return cls(label, numbers, " and ".join(str(value) for value in values))


def left_out(answer: str, findings: Sequence[Finding]) -> list[Finding]:
    """The findings none of whose numbers the answer writes (in digits or in number words)."""
    written = numbers_in(answer) + [Number(str(n), Decimal(n), 0, False, False)
                                    for n in number_words(answer)]
    return [finding for finding in findings
            if not any(finding.numbers.knows(number) for number in written)]


def check_narrative(answer: str, instructions: str, known: KnownNumbers,
                    data: str = "", telltales: Sequence[str] = (),
                    findings: Sequence[Finding] = ()) -> Problem | None:
    """The first problem with a narrative, or None when it passes every check; ``data`` is
    what the prompt held besides its instructions (the Boss's words, the step results),
    ``telltales`` the phrases of the worked example shown before it, ``findings`` the results
    it must give."""
    if not answer.strip():
        return Problem("empty", "the answer was empty",
                       "Write the report: the answer first, then what was done.")
    if echoes(answer, instructions):
        return Problem("echo", "the answer repeats the prompt's instructions",
                       "Write the report itself, not the instructions.")
    if copied_example(answer, instructions, data, telltales):  # not quoted again: a re-ask shows it
        return Problem("echo", "the answer repeats the prompt's example",
                       "Write about the Boss's request and these step results only.")
    unknown = known.unknown(numbers_in(opening(answer)))
    if unknown:
        gave = "; ".join(finding.said for finding in findings)
        return Problem("number", f"the answer names {listed(unknown)}, which no step produced",
                       ("Give only values from the step results, copied exactly"
                        + (f" ({gave})" if gave else "")
                        + "; if no step gave the answer, say that there is no answer."))
    missing = left_out(answer, findings)
    if missing:
        said = "; ".join(finding.said for finding in missing)
        return Problem("left_out", f"the answer leaves out results ({said})",
                       "Give every result in the answer's first sentences, copied exactly.")
    return None


def echoes(answer: str, instructions: str) -> bool:
    """True when the answer repeats the prompt's instructions (see the module's rules)."""
    if _TASK_HEADER.search(answer):
        return True
    labels = {_bare(line) for line in instructions.splitlines()
              if line.strip().endswith(":") and len(line.split()) <= LABEL_WORDS}
    if labels & {_bare(line) for line in answer.splitlines()}:
        return True
    said = _WORD.findall(answer.lower())
    told = _WORD.findall(instructions.lower())
    if len(said) < ECHO_SHINGLE or len(told) < ECHO_SHINGLE:
        return False
    runs = {tuple(told[i:i + ECHO_RUN]) for i in range(len(told) - ECHO_RUN + 1)}
    if any(tuple(said[i:i + ECHO_RUN]) in runs for i in range(len(said) - ECHO_RUN + 1)):
        return True
    shingles = {tuple(told[i:i + ECHO_SHINGLE]) for i in range(len(told) - ECHO_SHINGLE + 1)}
    covered = [False] * len(said)
    for i in range(len(said) - ECHO_SHINGLE + 1):
        if tuple(said[i:i + ECHO_SHINGLE]) in shingles:
            covered[i:i + ECHO_SHINGLE] = [True] * ECHO_SHINGLE
    share = sum(covered)
    return share >= ECHO_RUN and share >= ECHO_SHARE * len(said)


def listed(items: list[str]) -> str:
    """Items as a sentence lists them: "4", "4 and 9", "4, 9 and 12"."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items)


def copied_example(answer: str, instructions: str, data: str,
                   telltales: Sequence[str] = ()) -> str | None:
    """A quoted text of the instructions or a worked example's telltale (its
    "'good morning team'", two words or more) that the answer repeats though the prompt's
    ``data`` never holds it; None if none."""
    said, held = _folded(answer), _folded(data)
    for quoted in [*quoted_spans(instructions), *telltales]:
        text = _folded(quoted)
        if len(text.split()) >= EXAMPLE_WORDS and text in said and text not in held:
            return quoted
    return None


def _folded(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _bare(line: str) -> str:
    """A line without Markdown marks, spacing or case, to compare labels."""
    return " ".join(line.strip().strip("#*_> ").split()).lower()


def opening(text: str, sentences: int = OPENING_SENTENCES) -> str:
    """The first sentences of a Markdown text, leaving out headings, table rows and the
    report's status line; list markers are dropped."""
    found: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "|", STATUS_PREFIX)):
            continue
        line = _LIST_MARKER.sub("", line).strip()
        found += [s for s in _SENTENCE_END.split(line) if s.strip()]
        if len(found) >= sentences:
            break
    return " ".join(found[:sentences])


@dataclass(frozen=True)
class Number:
    """A number as written: its value, its decimals, whether it had a sign or a percent."""

    text: str
    value: Decimal
    decimals: int
    signed: bool
    percent: bool


def numbers_in(text: str) -> list[Number]:
    """The numbers written with digits in a text (thousands separators, decimals, a leading
    minus, a trailing percent); digits inside words (Q3, v2, 10th) are not numbers."""
    found = []
    for match in _NUMBER.finditer(text):
        digits = match["int"].replace(",", "") + (match["frac"] or "")
        sign = "-" if match["sign"] else ""
        try:
            value = Decimal(sign + digits)
        except InvalidOperation:  # pragma: no cover - the pattern only matches digits
            continue
        decimals = len(match["frac"]) - 1 if match["frac"] else 0
        found.append(Number(match.group(0).strip(), value, decimals, bool(sign),
                            bool(match["pct"])))
    return found


class KnownNumbers:
    """The numbers a report may present as results: from outputs, inputs and the request."""

    def __init__(self) -> None:
        self.values: set[Decimal] = set()

    def add_text(self, text: str) -> None:
        """Add the numbers written in a text, in digits or in number words."""
        for number in numbers_in(text):
            self.values.add(number.value)
            if number.percent:
                self.values.add(number.value / 100)
        self.values.update(Decimal(n) for n in number_words(text))

    def add_value(self, value: Any) -> None:
        """Add the numbers in a value: a number, a text, or lists and dicts of them."""
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int | float):
            try:
                self.values.add(Decimal(repr(value)))
            except InvalidOperation:  # inf, nan
                return
        elif isinstance(value, str):
            self.add_text(value)
        elif isinstance(value, dict):
            for item in value.values():
                self.add_value(item)
        elif isinstance(value, list | tuple):
            if value and all(isinstance(item, str) for item in value):
                self.values.add(Decimal(len(value)))  # "4 parts" of a split into 4 texts
            for item in value:
                self.add_value(item)

    def add_values(self, values: Iterable[Any]) -> None:
        """Add the numbers in each value."""
        for value in values:
            self.add_value(value)

    def knows(self, number: Number) -> bool:
        """True when the written number matches a known one (see the module's rules)."""
        targets = [number.value]
        if number.percent:
            targets.append(number.value / 100)
        return any(self._matches(t, number) for t in targets)

    def unknown(self, numbers: list[Number]) -> list[str]:
        """The written numbers no known number matches, as written, each once."""
        missing: list[str] = []
        for number in numbers:
            if not self.knows(number) and number.text not in missing:
                missing.append(number.text)
        return missing

    def _matches(self, target: Decimal, number: Number) -> bool:
        for known in self.values:
            candidates = [known] if number.signed else [known, abs(known)]
            for value in candidates:
                if value == target or _rounds_to(value, target, number.decimals):
                    return True
        return False


def _rounds_to(known: Decimal, written: Decimal, decimals: int) -> bool:
    """True when ``known``, rounded or cut to ``decimals`` places, is ``written`` and keeps at
    least two significant digits."""
    if not known.is_finite():
        return False
    step = Decimal(1).scaleb(-decimals)
    try:
        shortened = {known.quantize(step, rounding=ROUND_HALF_UP),
                     known.quantize(step, rounding=ROUND_DOWN)}
    except InvalidOperation:
        return False
    if written not in shortened:
        return False
    digits = written.copy_abs().as_tuple().digits
    return len("".join(map(str, digits)).lstrip("0")) >= 2


_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_NUMBER_WORD = re.compile(r"[a-z]+|[^a-z\s-]")


def number_words(text: str) -> list[int]:
    """The numbers a text spells out ("six", "twenty-five", "four hundred and twenty"): each
    run of number words as one value, and each word's own value."""
    values: list[int] = []
    total = current = 0
    last = ""  # the previous word of the run: "" outside a run
    for word in _NUMBER_WORD.findall(text.lower()):
        unit = _UNITS.get(word)
        if unit is not None:
            values.append(unit)
            joins = last in _SCALES or last == "and" or (
                last in _UNITS and 20 <= _UNITS[last] and unit < 10)
            if last and not joins:
                values.append(total + current)
                total = current = 0
            current += unit
            last = word
        elif word in _SCALES and last and last != "and":
            values.append(_SCALES[word])
            if _SCALES[word] == 100:
                current = max(current, 1) * 100
            else:
                total, current = total + max(current, 1) * _SCALES[word], 0
            last = word
        elif word == "and" and last in _SCALES:
            last = word
        else:
            if last:
                values.append(total + current)
            total = current = 0
            last = ""
    if last:
        values.append(total + current)
    return values
