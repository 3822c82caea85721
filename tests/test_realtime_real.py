"""``/v1/realtime`` with real Whisper tiny.en weights: partials that only grow while the user
speaks (streamed at the pace of speech), and a final transcript equal to the offline one."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from company.speech.synth import espeak_available
from company.speech.wer import normalize_words
from tests.test_realtime import KEY, Client, realtime_server, silence, spoken

pytestmark = [pytest.mark.real_model, pytest.mark.speech, pytest.mark.slow,
              pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")]

FIRST = "Please send the quarterly report to the finance team"
SECOND = "and ask them to check the numbers before Friday."


def test_partials_grow_and_the_final_transcript_is_the_offline_one(tmp_path: Path) -> None:
    from tests.real_models import require_model

    model = require_model("tiny.en")
    pcm = np.concatenate([silence(0.3), spoken(FIRST, tmp_path), silence(0.3),
                          spoken(SECOND, tmp_path), silence(1.2)])
    with realtime_server(tmp_path, model, partial_every_ms=400, speak=False) as served:
        served.app.state.api.config.speech.update({"sample_len": None, "batch_wait_ms": 20})
        client = Client(served)
        client.next()
        for start in range(0, pcm.size, 1600):  # 100 ms chunks at the pace of speech
            client.stream(pcm[start:start + 1600])
            time.sleep(0.1)
        final = client.until("transcript.done")
        task_id = client.until("task.created")["task_id"]
        client.until("response.done")
        client.close()
        with served.client(headers={"Authorization": f"Bearer {KEY}"}) as http:
            offline = http.get(f"/v1/tasks/{task_id}/transcript?format=json").json()
        service = served.app.state.api.company.services.speech()
    deltas = [e for e in client.events if e["type"] == "transcript.delta"]
    assert deltas, client.types()
    shown = ""
    for delta in deltas:  # never flickers back: each partial extends the last one
        assert delta["text"].startswith(shown)
        assert delta["text"] == f"{shown} {delta['delta']}".strip()
        shown = delta["text"]
    assert client.events.index(deltas[-1]) < client.events.index(final)
    assert final["text"] == offline["text"]  # the Transcriber's offline pass of the turn's audio
    assert normalize_words(final["text"]) == normalize_words(f"{FIRST} {SECOND}")
    import asyncio

    whole = asyncio.run(service.transcribe(pcm.astype(np.float32) / 32768))
    assert normalize_words(final["text"]) == normalize_words(whole.text)
