"""Greedy batched decoding of encoded 30 s windows: Whisper's rules, with less work per step.

Gives the tokens of ``whisper.decode`` at temperature 0 (same filters, same order), but:
the cross-attention keys/values are computed once per batch (Whisper computes them twice when it
detects the language) and laid out for a plain matmul on the CPU (2.3x faster than the fused
kernel for one query); the self-attention cache is preallocated instead of concatenated every
step; the timestamp rules run on per-row Python state instead of re-reading every row's tokens;
and rows that reached end-of-text leave the batch (``drop_finished``), so one long window does
not keep the others decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from whisper.decoding import DecodingOptions, DecodingResult
    from whisper.model import Whisper


def supports(options: DecodingOptions) -> bool:
    """Whether ``greedy_decode`` implements ``options`` (else use ``whisper.decode``)."""
    return (
        options.temperature == 0
        and options.beam_size is None
        and options.best_of is None
        and not options.prompt
        and not options.prefix
        and options.task in ("transcribe", "translate")
    )


@dataclass
class _Row:
    """Per-row decoding state kept in Python (cheap to read each step)."""

    index: int
    sampled: list[int] = field(default_factory=list)
    last_timestamp: int = -1
    logprob: float = 0.0
    done: bool = False


@dataclass
class _Cache:
    """Preallocated self-attention keys/values and the batch's cross-attention keys/values."""

    self_k: list[torch.Tensor]
    self_v: list[torch.Tensor]
    cross_k: list[torch.Tensor]
    cross_v: list[torch.Tensor]
    length: int = 0

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only batch rows ``rows`` (indices into the current batch), one tensor at a time
        so that at most one old tensor is alive next to its replacement."""
        for layer in range(len(self.cross_k)):
            self.self_k[layer] = _keep_prefix(self.self_k[layer], rows, self.length)
            self.self_v[layer] = _keep_prefix(self.self_v[layer], rows, self.length)
            self.cross_k[layer] = self.cross_k[layer].index_select(0, rows)
            self.cross_v[layer] = self.cross_v[layer].index_select(0, rows)


def _heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """(B, T, H*d) -> (B, H, T, d), a view."""
    return x.view(*x.shape[:2], n_head, -1).permute(0, 2, 1, 3)


def _keep_prefix(buffer: torch.Tensor, rows: torch.Tensor, length: int) -> torch.Tensor:
    """A new buffer like ``buffer`` with only ``rows``, of which the first ``length`` positions
    are copied (the rest is unwritten)."""
    import torch

    out = buffer.new_empty((rows.numel(), *buffer.shape[1:]))
    torch.index_select(buffer[:, :length], 0, rows, out=out[:, :length])
    return out


class _Decoder:
    """Whisper's text decoder run step by step over our own caches."""

    def __init__(self, model: Whisper, features: torch.Tensor, capacity: int) -> None:
        """Compute the cross-attention keys/values of ``features``; allocate a self-attention
        cache for ``capacity`` positions."""
        import torch

        decoder = model.decoder
        self.decoder = decoder
        self.mask = decoder.mask
        n_batch = features.shape[0]
        n_ctx, n_state = min(capacity, model.dims.n_text_ctx), model.dims.n_text_state
        dtype, device = features.dtype, features.device
        blocks = list(decoder.blocks)
        self.heads = blocks[0].cross_attn.n_head
        # On the CPU a plain matmul over keys laid out (B, H, d, T) and pre-scaled reads them
        # once per step and beats the fused attention kernel for a single query (2.3x measured);
        # on CUDA the fused kernel is the better one.
        self.fused_cross = device.type != "cpu"
        self.cache = _Cache(
            self_k=[torch.empty(n_batch, n_ctx, n_state, dtype=dtype, device=device)
                    for _ in blocks],
            self_v=[torch.empty(n_batch, n_ctx, n_state, dtype=dtype, device=device)
                    for _ in blocks],
            cross_k=[self._cross_keys(block.cross_attn.key(features)) for block in blocks],
            cross_v=[_heads(block.cross_attn.value(features), self.heads).contiguous()
                     for block in blocks],
        )  # fmt: skip
        self.dtype = dtype
        self.embedding_t = torch.transpose(decoder.token_embedding.weight.to(dtype), 0, 1)

    def _cross_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """Cross-attention keys (B, T, D) in the layout the attention below reads."""
        heads = _heads(keys, self.heads)  # (B, H, T, d)
        if self.fused_cross:
            return heads.contiguous()
        return (heads * heads.shape[-1] ** -0.5).transpose(-1, -2).contiguous()  # (B, H, d, T)

    def _cross_attention(self, q: torch.Tensor, layer: int) -> torch.Tensor:
        """Attention of queries (B, L, D) over the layer's cached audio keys/values."""
        import torch

        cache = self.cache
        qh = _heads(q, self.heads)
        if self.fused_cross:
            out = torch.nn.functional.scaled_dot_product_attention(
                qh, cache.cross_k[layer], cache.cross_v[layer]
            )
        else:
            weights = torch.softmax((qh @ cache.cross_k[layer]).float(), dim=-1)
            out = weights.to(q.dtype) @ cache.cross_v[layer]
        return out.permute(0, 2, 1, 3).flatten(start_dim=2)

    def forward(self, tokens: torch.Tensor, *, store: bool = True) -> torch.Tensor:
        """Logits (B, L, vocab) for ``tokens`` (B, L) following the cached positions."""
        decoder, cache = self.decoder, self.cache
        offset = cache.length
        end = offset + tokens.shape[1]
        x = decoder.token_embedding(tokens) + decoder.positional_embedding[offset:end]
        x = x.to(self.dtype)
        for i, block in enumerate(decoder.blocks):
            attn = block.attn
            h = block.attn_ln(x)
            q = attn.query(h)
            cache.self_k[i][:, offset:end] = attn.key(h)
            cache.self_v[i][:, offset:end] = attn.value(h)
            wv, _ = attn.qkv_attention(
                q, cache.self_k[i][:, :end], cache.self_v[i][:, :end], self.mask
            )
            x = x + attn.out(wv)
            cross = block.cross_attn
            q = cross.query(block.cross_attn_ln(x))
            x = x + cross.out(self._cross_attention(q, i))
            x = x + block.mlp(block.mlp_ln(x))
        if store:
            cache.length = end
        return (decoder.ln(x) @ self.embedding_t).float()


def greedy_decode(
    model: Whisper,
    features: torch.Tensor,
    options: DecodingOptions,
    *,
    drop_finished: bool = True,
) -> list[DecodingResult]:
    """Decode encoded windows ``features`` (B, n_audio_ctx, n_audio_state) greedily.

    ``options`` must satisfy ``supports``. Returns one ``DecodingResult`` per row, in order
    (``audio_features`` is left empty so that results do not keep the batch's features alive).
    """
    import numpy as np
    import torch
    from whisper.decoding import ApplyTimestampRules, DecodingResult, DecodingTask
    from whisper.utils import compression_ratio

    if not supports(options):
        raise ValueError("greedy_decode supports temperature 0 without prompt, prefix or beams")
    task = DecodingTask(model, options)  # Whisper's own setup: tokens, filters, lengths
    tokenizer = task.tokenizer
    eot, timestamp_begin = tokenizer.eot, tokenizer.timestamp_begin
    n_batch, device = features.shape[0], features.device
    rules = next((f for f in task.logit_filters if isinstance(f, ApplyTimestampRules)), None)
    suppress = torch.tensor(task._get_suppress_tokens(), device=device)
    blank = torch.tensor(tokenizer.encode(" ") + [eot], device=device)

    with torch.no_grad():
        capacity = len(task.initial_tokens) + task.sample_len + 1
        dec = _Decoder(model, features, capacity)
        initial = torch.tensor([task.initial_tokens], device=device).repeat(n_batch, 1)
        languages = [options.language] * n_batch
        if options.language is None:
            languages = _detect_languages(dec, initial, task.sot_index, tokenizer)
        rows = [_Row(index=i) for i in range(n_batch)]
        active = list(rows)
        no_speech = [float("nan")] * n_batch
        tokens = initial
        first = True
        for _ in range(task.sample_len):
            logits = dec.forward(tokens)
            if first and tokenizer.no_speech is not None:
                probs = logits[:, task.sot_index].float().softmax(dim=-1)
                no_speech = probs[:, tokenizer.no_speech].tolist()
            logits = logits[:, -1]
            if first and options.suppress_blank:
                logits[:, blank] = -np.inf
            if options.suppress_tokens:
                logits[:, suppress] = -np.inf
            if rules is not None:
                _timestamp_rules(logits, active, first, timestamp_begin, eot, rules)
            next_tokens = logits.argmax(dim=-1)
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            picked = logprobs[torch.arange(len(active), device=device), next_tokens]
            # one device-to-host copy per step (token ids < 2**24 are exact in float32)
            chosen_f, picked_f = torch.stack([next_tokens.float(), picked]).tolist()
            chosen = [int(token) for token in chosen_f]
            first = False
            for row, token, logprob in zip(active, chosen, picked_f, strict=True):
                if row.done:  # finished earlier and kept in the batch: end-of-text again
                    continue
                row.logprob += logprob
                if token == eot:
                    row.done = True
                else:
                    row.sampled.append(token)
                    if token >= timestamp_begin:
                        row.last_timestamp = token
            if all(row.done for row in active):
                break
            if dec.cache.length + 1 > task.n_ctx:
                break
            if drop_finished and any(row.done for row in active):
                keep = [k for k, row in enumerate(active) if not row.done]
                dec.cache.keep(torch.tensor(keep, device=device))
                active = [active[k] for k in keep]
                next_tokens = next_tokens[keep]
            else:
                # finished rows keep feeding end-of-text, as in Whisper (their results are fixed)
                next_tokens = torch.where(
                    torch.tensor([row.done for row in active], device=device),
                    torch.full_like(next_tokens, eot),
                    next_tokens,
                )
            tokens = next_tokens[:, None]
    results = []
    for row in rows:
        text = tokenizer.decode(row.sampled).strip()
        results.append(
            DecodingResult(
                audio_features=features.new_empty(0),
                language=languages[row.index],
                tokens=row.sampled,
                text=text,
                avg_logprob=row.logprob / (len(row.sampled) + 1),
                no_speech_prob=no_speech[row.index],
                temperature=options.temperature,
                compression_ratio=compression_ratio(text),
            )
        )
    return results


def _detect_languages(
    dec: _Decoder, initial: torch.Tensor, sot_index: int, tokenizer: object
) -> list[str]:
    """Detect each row's language from the start-of-transcript token, as Whisper does, and
    write the language tokens into ``initial``."""
    import numpy as np
    import torch

    logits = dec.forward(initial[:, sot_index : sot_index + 1], store=False)[:, 0]
    language_tokens = list(tokenizer.all_language_tokens)  # type: ignore[attr-defined]
    codes = list(tokenizer.all_language_codes)  # type: ignore[attr-defined]
    mask = torch.ones(logits.shape[-1], dtype=torch.bool, device=logits.device)
    mask[language_tokens] = False
    logits[:, mask] = -np.inf
    best = logits.argmax(dim=-1)
    initial[:, sot_index + 1] = best
    by_token = dict(zip(language_tokens, codes, strict=True))
    return [by_token[int(token)] for token in best.tolist()]


def _timestamp_rules(
    logits: torch.Tensor,
    active: list[_Row],
    first: bool,
    timestamp_begin: int,
    eot: int,
    rules: object,
) -> None:
    """Whisper's ``ApplyTimestampRules`` on the active rows' logits, in place."""
    import numpy as np
    import torch

    tokenizer = rules.tokenizer  # type: ignore[attr-defined]
    if tokenizer.no_timestamps is not None:
        logits[:, tokenizer.no_timestamps] = -np.inf
    for k, row in enumerate(active):
        seq = row.sampled
        if row.done:
            continue  # its next token is fixed; whatever the rules say does not matter
        last_was_timestamp = len(seq) >= 1 and seq[-1] >= timestamp_begin
        penultimate_was_timestamp = len(seq) < 2 or seq[-2] >= timestamp_begin
        if last_was_timestamp:
            if penultimate_was_timestamp:
                logits[k, timestamp_begin:] = -np.inf
            else:
                logits[k, :eot] = -np.inf
        if row.last_timestamp >= 0:
            if last_was_timestamp and not penultimate_was_timestamp:
                timestamp_last = row.last_timestamp
            else:
                timestamp_last = row.last_timestamp + 1
            logits[k, timestamp_begin:timestamp_last] = -np.inf
    if first:
        logits[:, :timestamp_begin] = -np.inf
        max_index = rules.max_initial_timestamp_index  # type: ignore[attr-defined]
        if max_index is not None:
            logits[:, timestamp_begin + max_index + 1 :] = -np.inf
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    timestamp_logprob = logprobs[:, timestamp_begin:].logsumexp(dim=-1)
    max_text_logprob = logprobs[:, :timestamp_begin].max(dim=-1).values
    prefer = timestamp_logprob > max_text_logprob
    logits[:, :timestamp_begin].masked_fill_(prefer[:, None], -np.inf)  # no host sync
