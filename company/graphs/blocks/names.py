"""Every AutoGPT block by id: class name, source module and the service whose account it needs.

`block_ids.json` (next to this file) lists the 467 block ids of AutoGPT's source with their class
name and module (`google.gmail`, `jina.search`, `basic`, ...). The service a block needs is read
from the module:

* a dotted module names its provider first: `google.gmail` -> `google`, `jina.search` -> `jina`;
* a plain module is either one of AutoGPT's general-purpose modules (`basic`, `text`,
  `time_blocks`, ... in `GENERAL_MODULES`: no third-party account), an LLM module (`llm`,
  `ai_condition`, `smart_decision_maker`: they need an LLM, which the local runner serves), or a
  provider's module whose provider is in `PLAIN_MODULE_SERVICES` (read from the `ProviderName`
  its source uses: `code_executor` -> `e2b`, `ai_image_generator_block` -> `replicate`, ...);
  an unlisted plain module is taken as its own service name;
* a few blocks differ from their module (`BLOCK_SERVICES`): `GetWeatherInformationBlock` sits in
  the general `search` module but needs an OpenWeatherMap key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_FILE = Path(__file__).with_name("block_ids.json")

LLM = "llm"
"""The service of blocks that need a language model (the local runner's LLM serves them)."""

GENERAL_MODULES = frozenset({
    "agent", "basic", "block", "branching", "code_extraction_block",
    "count_words_and_char_block", "data_manipulation", "decoder_block", "http",
    "human_in_the_loop", "io", "iteration", "maths", "media", "persistence", "rss", "sampling",
    "search", "spreadsheet", "text", "time_blocks", "xml_parser",
})  # fmt: skip
LLM_MODULES = frozenset({"llm", "ai_condition", "smart_decision_maker"})

# Plain (undotted) provider modules -> the provider their source asks credentials of.
PLAIN_MODULE_SERVICES: dict[str, str] = {
    "ai_image_customizer": "replicate",
    "ai_image_generator_block": "replicate",
    "ai_music_generator": "replicate",
    "flux_kontext": "replicate",
    "ai_shortform_video_block": "revid",
    "claude_code": "e2b",
    "code_executor": "e2b",
    "codex": "openai",
    "email_block": "smtp",
    "google_maps": "google_maps",
    "perplexity": "openrouter",
    "talking_head": "d_id",
    "text_to_speech_block": "unreal_speech",
    "youtube": "webshare_proxy",
}

# Blocks whose service differs from their module's.
BLOCK_SERVICES: dict[str, str] = {"GetWeatherInformationBlock": "openweathermap"}

# Ids AutoGPT has that block_ids.json misses (its extractor skipped them).
EXTRA_BLOCKS: dict[str, tuple[str, str]] = {
    "c0a8e994-ebf1-4a9c-a4d8-89d09c86741b": ("AgentInputBlock", "io"),
}

# What "needs ..." says per service; any other service reads "needs a <Service> account".
SERVICE_NEEDS: dict[str, str] = {
    LLM: "needs an LLM",
    "google": "needs a Google account",
    "google_maps": "needs a Google Maps API key",
    "jina": "needs a Jina AI API key",
    "exa": "needs an Exa API key",
    "e2b": "needs an E2B sandbox account",
    "openai": "needs an OpenAI API key",
    "openrouter": "needs an OpenRouter API key",
    "smtp": "needs an SMTP mail server login",
    "twitter": "needs an X (Twitter) account",
    "d_id": "needs a D-ID account",
    "unreal_speech": "needs an Unreal Speech API key",
    "webshare_proxy": "needs a Webshare proxy account, AutoGPT's way to reach YouTube",
    "discord": "needs a Discord bot token",
    "openweathermap": "needs an OpenWeatherMap API key",
    "system": "needs the AutoGPT platform (its store and library)",
    "generic_webhook": "needs an AutoGPT webhook trigger",
    "dataforseo": "needs a DataForSEO account",
    "wordpress": "needs a WordPress account",
    "github": "needs a GitHub account",
    "hubspot": "needs a HubSpot account",
    "nvidia": "needs an NVIDIA API key",
    "baas": "needs a Meeting BaaS account",
}
GENERAL_NEEDS = "general-purpose, no account needed"


@dataclass(frozen=True)
class BlockInfo:
    """What AutoGPT's source says of one block id."""

    id: str
    name: str
    module: str
    service: str | None
    """The third-party service whose account the block needs ("llm" for a language model);
    None for a general-purpose block."""

    @property
    def general(self) -> bool:
        """Whether the block needs no third-party account (an LLM counts as one it needs)."""
        return self.service is None

    @property
    def needs(self) -> str:
        """What running the block takes, in words: `needs a Google account`."""
        if self.service is None:
            return GENERAL_NEEDS
        known = SERVICE_NEEDS.get(self.service)
        if known:
            return known
        words = self.service.replace("_", " ").title()
        article = "an" if words[:1] in "AEIOU" else "a"
        return f"needs {article} {words} account"

    def label(self) -> str:
        """The block for people: `GmailSendBlock (google.gmail: needs a Google account)`."""
        return f"{self.name} ({self.module}: {self.needs})"


def service_of(name: str, module: str) -> str | None:
    """The service a block of this class and module needs (None: general-purpose)."""
    if name in BLOCK_SERVICES:
        return BLOCK_SERVICES[name]
    if module in GENERAL_MODULES:
        return None
    if module in LLM_MODULES:
        return LLM
    first = module.split(".", 1)[0]
    return PLAIN_MODULE_SERVICES.get(first, first)


@cache
def all_blocks() -> dict[str, BlockInfo]:
    """Every known block id with its info (read from block_ids.json once)."""
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))["blocks"]
    pairs = {block_id: (v["name"], v["module"]) for block_id, v in data.items()}
    pairs.update({k: v for k, v in EXTRA_BLOCKS.items() if k not in pairs})
    return {
        block_id: BlockInfo(block_id, name, module, service_of(name, module))
        for block_id, (name, module) in pairs.items()
    }


def block_info(block_id: str) -> BlockInfo | None:
    """What AutoGPT's block list says of this id, or None for an id it does not have."""
    return all_blocks().get(block_id)


def describe_block(block_id: str) -> str:
    """A block id for people: its label, or `unknown block <id> (not in AutoGPT's block list)`."""
    info = block_info(block_id)
    return info.label() if info else f"unknown block {block_id} (not in AutoGPT's block list)"
