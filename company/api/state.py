"""What the routes share: the company, the settings, the run pool, the SOP resolver."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Request

from company.api.pool import RunPool
from company.api.settings import ApiSettings
from company.api.sops import SopResolver
from company.company import Company
from company.config import AppConfig


@dataclass
class ApiState:
    """One server process's state, kept on ``app.state.api``."""

    config: AppConfig
    settings: ApiSettings
    company: Company
    pool: RunPool
    sops: SopResolver
    decodes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))


async def api_state(request: Request) -> ApiState:
    """The state of the app serving this request (async: no threadpool hop per request)."""
    return request.app.state.api
