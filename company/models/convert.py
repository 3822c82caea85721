"""The CTranslate2 → openai-whisper converter, imported only when a conversion runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def convert_folder(src_dir: Path, dest: Path) -> dict[str, Any]:
    """Convert a CTranslate2 Whisper folder to an openai-whisper checkpoint at ``dest``."""
    from company.models.ct2_whisper import convert_ct2_whisper

    return convert_ct2_whisper(src_dir, dest)
