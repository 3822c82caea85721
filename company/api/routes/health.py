"""``GET /v1/health``: can this server do its work?"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends

from company.api.auth import require_key
from company.api.health import check_llm, check_store, whisper_check
from company.api.routes.tasks import State, errors
from company.api.schemas import Health, RunStats

router = APIRouter(prefix="/v1", tags=["health"], dependencies=[Depends(require_key)])


@router.get("/health", response_model=Health, responses=errors())
async def health(api: State) -> Health:
    """The model server, the store, the Whisper model (not loaded) and the run pool."""
    llm = await check_llm(api.company.provider)
    store = check_store(api.company.store)
    whisper = await asyncio.to_thread(whisper_check, dict(api.config.speech))
    pool = api.pool
    runs = RunStats(running=pool.running, queued=pool.queued,
                    max_concurrent_runs=pool.max_running, max_queue=pool.max_queue,
                    accepting=not pool.stopping)
    ok = llm.ok and store.ok and whisper.ok
    return Health(status="ok" if ok else "degraded", llm=llm, store=store, whisper=whisper,
                  runs=runs)
