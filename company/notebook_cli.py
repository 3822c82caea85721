"""``startup.py notebook``: list, search, change and export the Boss's notebook."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from company.cli_common import fail
from company.notebook import Note, Notebook, NotebookConflict, NotebookError, NoteNotFound
from company.store import Store

ACTIONS = ("done", "edit", "drop", "reopen", "export")
LIVE = ("open", "kept")
NOT_DROPPED = ("open", "done", "kept")

USAGE = """
  startup.py notebook [ideas|items] [--open] [--all] [--search TEXT] [--tag TAG] [--json]
  startup.py notebook done ID | drop ID | reopen ID
  startup.py notebook edit ID "new text" [--priority high|medium|low] [--tag TAG ...]
  startup.py notebook export [ideas|items] [--format md|csv] [--out FILE]
"""


def list_parser() -> argparse.ArgumentParser:
    """The parser of ``notebook [ideas|items] ...``."""
    parser = argparse.ArgumentParser(
        prog="startup.py notebook", usage=USAGE,
        description="The Boss's notebook: ideas worth keeping and action items, gathered from "
        "the Boss's own words across tasks (dropped notes are left out unless --all).")
    parser.add_argument("kind", nargs="?", choices=("ideas", "items"), help="only these")
    _add_status(parser)
    parser.add_argument("--search", metavar="TEXT", help="notes holding every word of TEXT")
    parser.add_argument("--tag", help="notes with this tag")
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    parser.add_argument("--offset", type=int, default=0, help="skip this many first")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def action_parser(action: str) -> argparse.ArgumentParser:
    """The parser of ``notebook done|edit|drop|reopen|export ...``."""
    parser = argparse.ArgumentParser(prog=f"startup.py notebook {action}")
    if action == "export":
        parser.add_argument("kind", nargs="?", choices=("ideas", "items"), help="only these")
        parser.add_argument("--format", choices=("md", "csv"), default="md",
                            help="Markdown (default) or CSV")
        parser.add_argument("--out", metavar="FILE", help="write here instead of stdout")
        parser.add_argument("--open", action="store_true",
                            help="only open items and kept ideas (default: every note)")
        return parser
    parser.add_argument("id", type=int, help="the note's number")
    if action == "edit":
        parser.add_argument("text", nargs="?", help="the new text")
        parser.add_argument("--priority", choices=("high", "medium", "low"))
        parser.add_argument("--tag", action="append", dest="tags", metavar="TAG",
                            help="set the tags (repeat for several)")
    parser.add_argument("--json", action="store_true", help="print the note as JSON")
    return parser


def _add_status(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--open", action="store_true", help="only open items and kept ideas")
    group.add_argument("--all", action="store_true", help="dropped notes too")


def notebook_command(argv: list[str], open_store: Callable[[], Store]) -> int:
    """Run ``startup.py notebook ...`` on the store ``open_store`` gives (opened once the
    command line is parsed, closed at the end)."""
    action = argv[0] if argv and argv[0] in ACTIONS else "list"
    args = (action_parser(action).parse_args(argv[1:]) if action != "list"
            else list_parser().parse_args(argv))
    store = open_store()
    try:
        notebook = Notebook(store)
        if action == "list":
            return _list(notebook, args)
        if action == "export":
            return _export(notebook, args)
        return _change(notebook, action, args)
    except NoteNotFound as exc:
        return fail(str(exc))
    except NotebookConflict as exc:
        return fail(str(exc), 1)
    except NotebookError as exc:
        return fail(str(exc))
    finally:
        store.close()


def _list(notebook: Notebook, args: argparse.Namespace) -> int:
    status = LIVE if args.open else None if args.all else NOT_DROPPED
    notes = notebook.list_notes(kind=args.kind, status=status, q=args.search, tag=args.tag,
                                limit=args.limit, offset=args.offset)
    if args.json:
        print(json.dumps([n.model_dump(mode="json") for n in notes], indent=2,
                         ensure_ascii=False))
    elif not notes:
        print("no notes" + (" match" if args.search or args.tag or args.kind else " yet"))
    else:
        for note in notes:
            print(row(note))
    return 0


def _export(notebook: Notebook, args: argparse.Namespace) -> int:
    text = notebook.export(args.format, kind=args.kind, status=LIVE if args.open else None)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _change(notebook: Notebook, action: str, args: argparse.Namespace) -> int:
    if action == "done":
        note = notebook.mark_done(args.id)
    elif action == "drop":
        note = notebook.drop(args.id)
    elif action == "reopen":
        note = notebook.reopen(args.id)
    else:
        if args.text is None and args.priority is None and args.tags is None:
            return fail("say what to change: a new text, --priority or --tag")
        note = notebook.edit(args.id, text=args.text, priority=args.priority, tags=args.tags)
    print(json.dumps(note.model_dump(mode="json"), indent=2, ensure_ascii=False) if args.json
          else row(note))
    return 0


def row(note: Note) -> str:
    """One note as a line of the listing."""
    tags = "".join(f"  #{t}" for t in note.tags)
    return (f"{note.id:>4}  {note.kind:<4}  {note.status:<7}  {note.priority:<6}  "
            f"{note.text}{tags}")
