"""The Boss's notebook: ideas worth keeping and action items to do, as records of their own,
gathered across tasks from the Boss's own words (never from the model's claims).

Rules:

* **What goes in** (``record_analysis``): an idea only when its ``source`` is a run of the Boss's
  words (``grounding.grounded_idea``); an action item when it is grounded in the request (its
  numbers said by the Boss, most of its content words the Boss's), with its source, or the
  request sentence closest to it when the model gave none that is found.
* **Near-duplicates** (``add``): a note of the same kind whose text is the same once normalised,
  or names the same numbers with content words overlapping at Jaccard >= 0.8, is the same
  record: its ``updated_at`` moves, ``mentions`` counts the messages that said it, its priority
  becomes the higher one, and its task, message and source become the newest mention's. A note
  that is done or dropped and said again in another message comes back (open, or kept): the
  Boss's newest words win; said again by the same message (a resumed task read again) it stays
  as it is.
* **Edits**: a dropped note cannot be edited (``NotebookConflict``); reopen it first."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

from company import grounding
from company.message import utc_now
from company.payloads import Analysis, Idea, Priority
from company.store import Store

Kind = Literal["idea", "item"]
KINDS: tuple[str, ...] = ("idea", "item")
STATUSES: dict[str, tuple[str, ...]] = {"item": ("open", "done", "dropped"),
                                        "idea": ("kept", "dropped")}
"""The statuses of each kind: the first is the live one."""
LIVE: dict[str, str] = {kind: statuses[0] for kind, statuses in STATUSES.items()}
ALL_STATUSES: tuple[str, ...] = ("open", "done", "kept", "dropped")
PRIORITIES: tuple[str, ...] = ("high", "medium", "low")
MAX_TEXT = 1000
MAX_SOURCE = 2000
MAX_TAGS = 10
MAX_TAG = 40
MAX_LIMIT = 500
MAX_QUERY = 200
MERGE_SCAN = 2000
"""How many of the most recent notes of a kind a new note is compared with."""
RELEVANT = 8
"""How many notes the Analyst's prompt shows."""
LABELS = {"open": "open item todo to-do pending notebook", "done": "done item notebook",
          "kept": "idea notebook", "dropped": ""}
"""Words that a request about the notebook itself uses ("what is still open?"): they count
toward a live note's relevance as if the note held them."""


class Note(BaseModel):
    """One notebook record."""

    id: int
    kind: Kind
    text: str
    priority: Priority
    status: str
    tags: list[str] = Field(default_factory=list)
    source: str = ""
    task_id: str = ""
    message_id: str = ""
    mentions: int = 1
    created_at: str
    updated_at: str

    def line(self) -> str:
        """The note in one line, as prompts show it: ``open item #3 (high): Send ...``."""
        label = f"{self.status} {self.kind}" if self.kind == "item" else "idea"
        return f"{label} #{self.id} ({self.priority}): {self.text}"


class NotebookError(ValueError):
    """A notebook request that cannot be done as asked (bad input: a 400)."""


class NoteNotFound(NotebookError, LookupError):
    """No note has this id (a 404)."""


class NotebookConflict(NotebookError):
    """The note's state forbids the change, e.g. editing a dropped note (a 409)."""


class Notebook:
    """The notebook kept in a Store: add (merging near-duplicates), list, change, export."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # writing -----------------------------------------------------------
    def add(
        self, kind: str, text: str, *, priority: str = "medium", source: str = "",
        tags: Iterable[str] = (), task_id: str = "", message_id: str = "",
    ) -> tuple[Note, bool]:
        """Add a note, or merge it into the same note already kept; the note and whether it
        is new."""
        kind = _kind(kind)
        text, priority = _text(text), _priority(priority)
        source = " ".join(source.split())[:MAX_SOURCE]
        tag_list = _tags(tags)
        now = utc_now().isoformat()
        with self.store.transaction():
            same = self._same(kind, text)
            if same is None:
                note_id = self.store.insert_note({
                    "kind": kind, "text": text, "priority": priority, "status": LIVE[kind],
                    "tags": tag_list, "source": source, "task_id": task_id,
                    "message_id": message_id, "mentions": 1,
                    "search": _search(text, source, tag_list), "created_at": now,
                    "updated_at": now})
                return self.get(note_id), True
            new_mention = not message_id or message_id != same.message_id
            changes: dict[str, Any] = {
                "priority": min(same.priority, priority, key=PRIORITIES.index),
                "tags": same.tags + [t for t in tag_list if t not in same.tags],
                "updated_at": now,
            }
            if new_mention:
                changes.update(mentions=same.mentions + 1, status=LIVE[kind],
                               task_id=task_id or same.task_id,
                               message_id=message_id or same.message_id,
                               source=source or same.source)
            changes["search"] = _search(same.text, changes.get("source", same.source),
                                        changes["tags"])
            self.store.update_note(same.id, changes)
            return self.get(same.id), False

    def record_analysis(self, analysis: Analysis, said: str, *, task_id: str,
                        message_id: str) -> list[Note]:
        """Keep what the Boss said in an analysis of ``said`` (the request's words): the
        grounded ideas and action items, with their sources; the notes kept, in order."""
        kept: list[Note] = []
        for idea in grounded_ideas(analysis, said):
            kept.append(self.add("idea", idea.text, priority=idea.priority, source=idea.source,
                                 task_id=task_id, message_id=message_id)[0])
        for item in analysis.action_items:
            source = grounding.item_source(item.text, item.source, said)
            if source is not None:
                kept.append(self.add("item", item.text, priority=item.priority, source=source,
                                     task_id=task_id, message_id=message_id)[0])
        return kept

    def mark_done(self, note_id: int) -> Note:
        """Mark an action item done (an idea is kept or dropped, never done; a dropped item is
        reopened first)."""
        note = self.get(note_id)
        if note.kind != "item":
            raise NotebookError(f"note {note_id} is an idea: ideas are kept or dropped, not done")
        if note.status == "dropped":
            raise NotebookConflict(f"item {note_id} was dropped: reopen it first")
        return self._set(note, status="done")

    def drop(self, note_id: int) -> Note:
        """Drop a note (it stays in the notebook, out of the live lists)."""
        return self._set(self.get(note_id), status="dropped")

    def reopen(self, note_id: int) -> Note:
        """Bring a done or dropped note back (open, or kept)."""
        note = self.get(note_id)
        return self._set(note, status=LIVE[note.kind])

    def edit(self, note_id: int, *, text: str | None = None, priority: str | None = None,
             tags: Iterable[str] | None = None) -> Note:
        """Change a note's text, priority or tags (a dropped note: NotebookConflict)."""
        note = self.get(note_id)
        if note.status == "dropped":
            raise NotebookConflict(f"{note.kind} {note_id} was dropped: reopen it to edit it")
        changes: dict[str, Any] = {}
        if text is not None:
            changes["text"] = _text(text)
        if priority is not None:
            changes["priority"] = _priority(priority)
        if tags is not None:
            changes["tags"] = _tags(tags)
        new_text, new_tags = changes.get("text", note.text), changes.get("tags", note.tags)
        changes["search"] = _search(new_text, note.source, new_tags)
        return self._set(note, **changes)

    def _set(self, note: Note, **changes: Any) -> Note:
        if all(getattr(note, k) == v for k, v in changes.items() if k != "search"):
            return note  # nothing changes: updated_at stays
        self.store.update_note(note.id, {**changes, "updated_at": utc_now().isoformat()})
        return self.get(note.id)

    # reading -----------------------------------------------------------
    def get(self, note_id: int) -> Note:
        """The note with this id (NoteNotFound when none)."""
        row = self.store.note(note_id) if 0 < note_id < 2**63 else None
        if row is None:
            raise NoteNotFound(f"no note {note_id} in the notebook")
        return Note.model_validate(row)

    def list_notes(
        self, *, kind: str | None = None, status: str | Collection[str] | None = None,
        q: str | None = None, tag: str | None = None, limit: int = 50, offset: int = 0,
    ) -> list[Note]:
        """Notes, most recently updated first: of one kind, with one status (or any of
        several), holding every word of ``q`` (literal text, case-insensitive, in the text,
        source or tags), carrying ``tag``."""
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise NotebookError(f"limit must be 1..{MAX_LIMIT} and offset >= 0")
        rows = self.store.find_notes(**_filters(kind, status, q, tag), limit=limit,
                                     offset=offset)
        return [Note.model_validate(r) for r in rows]

    def count_notes(self, *, kind: str | None = None,
                    status: str | Collection[str] | None = None, q: str | None = None,
                    tag: str | None = None) -> int:
        """How many notes ``list_notes`` finds without a limit."""
        return self.store.count_notes(**_filters(kind, status, q, tag))

    def relevant(self, request: str, *, limit: int = RELEVANT, min_overlap: int = 0,
                 exclude_message_ids: Collection[str] = ()) -> list[Note]:
        """The open items and kept ideas that matter for ``request``: those sharing the most
        content words with it first, then the most recent (only those sharing at least
        ``min_overlap`` words); at most ``limit``, leaving out notes from the messages named
        (the request itself, read again)."""
        live = [n for n in self.list_notes(status=("open", "kept"), limit=MAX_LIMIT)
                if n.message_id not in exclude_message_ids]
        query = grounding.content_words(request)
        scored = [(grounding.overlap(query, [n.text, n.source, LABELS[n.status], *n.tags]),
                   -i, n) for i, n in enumerate(live)]
        scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
        return [n for score, _, n in scored[:limit] if score >= min_overlap]

    def export(self, fmt: str, *, kind: str | None = None,
               status: str | Collection[str] | None = None, q: str | None = None,
               tag: str | None = None) -> str:
        """The notes found as a Markdown document (``md``) or a CSV table (``csv``)."""
        filters = _filters(kind, status, q, tag)
        total = self.store.count_notes(**filters)
        rows = self.store.find_notes(**filters, limit=max(total, 1))
        notes = [Note.model_validate(r) for r in reversed(rows)]  # oldest first
        if fmt == "md":
            return markdown(notes)
        if fmt == "csv":
            return table(notes)
        raise NotebookError(f"export format must be md or csv, not {fmt!r}")

    def _same(self, kind: str, text: str) -> Note | None:
        """The most recent note of ``kind`` that says the same as ``text``, if any."""
        for row in self.store.find_notes(kinds=(kind,), limit=MERGE_SCAN):
            if grounding.same_note(row["text"], text):
                return Note.model_validate(row)
        return None


def grounded_ideas(analysis: Analysis, said: str) -> list[Idea]:
    """The ideas of an analysis whose source is the Boss's words (``grounding.grounded_idea``)."""
    return [i for i in analysis.ideas if grounding.grounded_idea(i.text, i.source, said)]


SECTIONS = (("Open items", "item", "open", "- [ ] "), ("Done items", "item", "done", "- [x] "),
            ("Ideas", "idea", "kept", "- "), ("Dropped", None, "dropped", "- ~~"))


def markdown(notes: list[Note]) -> str:
    """Notes as a Markdown document: open items, done items, ideas, dropped notes."""
    lines = ["# Notebook"]
    for title, kind, status, mark in SECTIONS:
        chosen = [n for n in notes if n.status == status and (kind is None or n.kind == kind)]
        if not chosen:
            continue
        lines += ["", f"## {title}", ""]
        for n in chosen:
            text = " ".join(n.text.split())
            text = f"{text}~~" if mark.endswith("~~") else text
            extra = "".join(f" #{t}" for t in n.tags)
            lines.append(f"{mark}{text} ({n.priority}{', ' + n.kind if kind is None else ''})"
                         f"{extra} [{n.id}]")
    if len(lines) == 1:
        lines += ["", "Nothing noted yet."]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ("id", "kind", "status", "priority", "text", "tags", "source", "task_id",
               "message_id", "mentions", "created_at", "updated_at")


def table(notes: list[Note]) -> str:
    """Notes as CSV with a header row; a text cell that a spreadsheet would read as a formula
    (``=``, ``+``, ``-``, ``@``, tab, CR first) starts with ``'``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for n in notes:
        row = n.model_dump()
        row["tags"] = ";".join(n.tags)
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _filters(kind: str | None, status: str | Collection[str] | None, q: str | None,
             tag: str | None) -> dict[str, Any]:
    kinds = (_kind(kind),) if kind else ()
    statuses = (status,) if isinstance(status, str) else tuple(status or ())
    for s in statuses:
        if s not in ALL_STATUSES:
            raise NotebookError(f"status must be one of {', '.join(ALL_STATUSES)}, not {s!r}")
    if q is not None and len(q) > MAX_QUERY:
        raise NotebookError(f"a search has at most {MAX_QUERY} characters")
    return {"kinds": kinds, "statuses": statuses,
            "words": tuple(grounding.normalise(q or "").split()),
            "tag": _tag(tag) if tag else None}


def _search(text: str, source: str, tags: list[str]) -> str:
    return grounding.normalise(" \n ".join([text, source, *tags]))


def _kind(kind: str) -> str:
    aliases = {"ideas": "idea", "items": "item"}
    kind = aliases.get(kind, kind)
    if kind not in KINDS:
        raise NotebookError(f"kind must be idea or item, not {kind!r}")
    return kind


def _text(text: str) -> str:
    text = " ".join(str(text).split())
    if not text or len(text) > MAX_TEXT:
        raise NotebookError(f"a note's text must have 1..{MAX_TEXT} characters")
    return text


def _priority(priority: str) -> str:
    if priority not in PRIORITIES:
        raise NotebookError(f"priority must be high, medium or low, not {priority!r}")
    return priority


def _tag(tag: str) -> str:
    tag = " ".join(str(tag).split()).lstrip("#").casefold()
    if not tag or len(tag) > MAX_TAG:
        raise NotebookError(f"a tag must have 1..{MAX_TAG} characters")
    return tag


def _tags(tags: Iterable[str]) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    found: list[str] = []
    for tag in tags:
        tag = _tag(tag)
        if tag not in found:
            found.append(tag)
    if len(found) > MAX_TAGS:
        raise NotebookError(f"a note has at most {MAX_TAGS} tags")
    return found
