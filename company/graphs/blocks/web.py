"""Web blocks; every fetch goes through `SafeHttpClient` (SSRF checks, size and time limits)."""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from enum import Enum
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from company.graphs.blocks.base import Block, BlockContext, BlockOutput, BlockSchema
from company.graphs.safe_http import FetchResult


class HttpMethod(Enum):
    """HTTP methods of SendWebRequestBlock."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    DELETE = "DELETE"
    PATCH = "PATCH"
    OPTIONS = "OPTIONS"
    HEAD = "HEAD"


def _decode_data_uri(uri: str, index: int) -> tuple[str, bytes, str]:
    header, _, payload = uri.partition(",")
    mime = header[5:].split(";")[0] or "application/octet-stream"
    try:
        content = (
            base64.b64decode(payload, validate=True)
            if header.endswith(";base64")
            else unquote_to_bytes(payload)
        )
    except (binascii.Error, ValueError):
        raise ValueError(f"file {index} is not a valid data URI") from None
    extension = mimetypes.guess_extension(mime) or ""
    return f"file{index}{extension}", content, mime


async def _load_file(ctx: BlockContext, media: str, index: int) -> tuple[str, bytes, str]:
    if media.startswith("data:"):
        return _decode_data_uri(media, index)
    if media.startswith(("http://", "https://")):
        fetched = await ctx.http.request("GET", media)
        if not 200 <= fetched.status < 300:
            raise ValueError(f"could not download file {media}: HTTP {fetched.status}")
        name = media.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or f"file{index}"
        mime = fetched.headers.get("content-type", "application/octet-stream").split(";")[0]
        return name, fetched.content, mime
    raise ValueError("files must be data: URIs or http(s) URLs; local paths are not allowed")


def _result_value(response: FetchResult) -> Any:
    if response.is_json:
        if response.status == 204 or not response.content:
            return None
        try:
            return response.json()
        except json.JSONDecodeError:
            return response.text
    return response.text


class SendWebRequestBlock(Block):
    """Makes an HTTP request (JSON, form or multipart) and routes the answer by status."""

    id = "6595ae1f-b924-42cb-9a41-551a0611c4b4"
    needs_network = True

    class Input(BlockSchema):
        """Input pins."""

        url: str
        method: HttpMethod = HttpMethod.POST
        headers: dict[str, str] = {}
        json_format: bool = True
        body: Any = None
        files_name: str = "file"
        files: list[str] = []

    class Output(BlockSchema):
        """Output pins."""

        response: object
        client_error: object
        server_error: object

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the body on `response` (2xx), `client_error` (4xx) or `server_error`."""
        body = input_data.body
        json_format = input_data.json_format
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except json.JSONDecodeError:
                json_format = False
        files = [
            (input_data.files_name, await _load_file(ctx, media, i))
            for i, media in enumerate(input_data.files)
        ]
        if files and json_format:
            raise ValueError(
                "json_format=True cannot be combined with file uploads; set json_format=False "
                "and put form fields in `body`"
            )
        use_json = json_format and not files and body is not None
        response = await ctx.http.request(
            input_data.method.value,
            input_data.url,
            headers=input_data.headers,
            json_body=body if use_json else None,
            data=None if use_json or body is None else body,
            files=files or None,
        )
        result = _result_value(response)
        if 200 <= response.status < 300:
            yield "response", result
        elif 400 <= response.status < 500:
            yield "client_error", result
        else:
            yield "server_error", result


class GetWikipediaSummaryBlock(Block):
    """Fetches the summary of a topic from Wikipedia's REST API."""

    id = "f5b0f5d0-1862-4d61-94be-3ad0fa772760"
    needs_network = True

    class Input(BlockSchema):
        """Input pins."""

        topic: str

    class Output(BlockSchema):
        """Output pins."""

        summary: str

    async def run(self, input_data: Any, ctx: BlockContext) -> BlockOutput:
        """Yield the page extract, or an error naming the HTTP status."""
        base = ctx.settings.wikipedia_base_url.rstrip("/")
        url = f"{base}/api/rest_v1/page/summary/{quote(input_data.topic.strip(), safe='')}"
        response = await ctx.http.request("GET", url, headers={"Accept": "application/json"})
        if response.status != 200:
            yield "error", f"HTTP error {response.status} from Wikipedia for '{input_data.topic}'"
            return
        try:
            data = response.json()
            yield "summary", data["extract"]
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            yield "error", f"Error parsing Wikipedia response: {err}"


BLOCKS: list[type[Block]] = [SendWebRequestBlock, GetWikipediaSummaryBlock]
