"""A web page's readable text, extracted in-process: menus, scripts and footers dropped.

Uses trafilatura (imported on first use). CPU-bound: callers run it on a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PageKind = Literal["html", "text", "binary"]
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset(
    {"application/json", "application/xml", "application/javascript", "application/x-yaml"}
)
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body")


@dataclass(frozen=True)
class ReadableText:
    """What a page says: its title ("" when unknown) and its main text as Markdown."""

    title: str
    text: str


def page_kind(content_type: str, body: bytes) -> PageKind:
    """Whether a response is an HTML page, other text, or binary (from its type, else sniffed)."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in _HTML_TYPES:
        return "html"
    if mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml")):
        return "text"
    if mime and mime != "application/octet-stream":
        return "binary"
    head = body[:1024].lstrip().lower()
    if head.startswith(_HTML_STARTS):
        return "html"
    return "binary" if b"\x00" in head else "text"


def extract_readable(html: bytes | str, url: str) -> ReadableText | None:
    """The title and main text of an HTML page; None when it holds no text at all.

    Bytes are decoded by trafilatura (it reads `<meta charset>`); pass a str when the HTTP
    header named the charset.
    """
    import trafilatura

    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    metadata = trafilatura.extract_metadata(tree, default_url=url, extensive=False)
    title = " ".join((metadata.title or "").split()) if metadata is not None else ""
    text = trafilatura.extract(
        tree,
        url=url,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
    )
    if not text or not text.strip():
        # No main content found (a bare page, a list of links): keep every visible word.
        text = trafilatura.html2txt(tree)
    text = (text or "").strip()
    if not text:
        return None
    return ReadableText(title=title, text=text)


def reader_format(page: ReadableText, url: str) -> str:
    """The page as Jina's reader (AutoGPT's backend for this block) lays it out."""
    head = f"Title: {page.title}\n\n" if page.title else ""
    return f"{head}URL Source: {url}\n\nMarkdown Content:\n{page.text}\n"
