"""SPLADE max-pooling over a masked LM's vocabulary projection, without the full logits.

The reference SPLADE pass materialises batch x length x vocab logits and then takes the
max over tokens. For splade-tiny that projection is ~90% of the FLOPs, and writing its
output (4 bytes x 30,522 per token) is what holds the matmul to ~40% of the CPU's peak.
Two exact replacements live here:

- `max_logits_chunked`: the same fp32 arithmetic, one vocabulary slice at a time, the max
  over tokens taken while the slice is still in cache. Never holds more than
  batch x length x `chunk` floats.
- `positive_max_logits`: a bf16 pre-pass over the whole vocabulary with a proven error
  bound, then an exact fp32 re-check of the few rows whose bound can be positive. Only
  ~250 of 30,522 rows survive log1p(relu(.)) per document, so the re-check is ~1% of
  the projection. Rows whose bound is <= 0 are provably zero in the reference too.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from torch import Tensor, nn

CHUNK = 256  # vocabulary rows per slice: batch x length x 256 stays within L2
BF16_UNIT_ROUNDOFF = 2.0**-8
FP32_UNIT_ROUNDOFF = 2.0**-24
# Absolute slack for the reference's own fp32 rounding (|error| <~ 1e-5 at these norms).
SLACK = 1e-3


@dataclass
class MlmHead:
    """The decoder (hidden -> vocab) of a masked LM, split from the layers before it."""

    owner: str  # dotted path of the module holding the decoder
    attr: str
    weight: Tensor  # (vocab, hidden) fp32
    bias: Tensor  # (vocab,) fp32
    center: Tensor  # (hidden,): the pre-pass bounds use |h - center|, not |h|
    centred_bias: Tensor  # bias + W @ center, the bias of the centred projection
    weight_norms: Tensor  # (vocab,) fp32
    weight_bf16: Tensor


def split_head(model: nn.Module, *, detach: bool = True) -> MlmHead | None:
    """Find the output projection of a masked LM; None where the layout is not understood.

    With `detach=False` the weight and bias are the model's live parameters, so a loss on
    `exact_max` trains them (the bound-only tensors are always detached). The caller
    checks the split against the model's own logits before trusting it.
    """
    decoder = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if not isinstance(decoder, nn.Linear):
        return None
    owner_path, owner, attr = _parent_of(model, decoder)
    if owner is None:
        return None
    bias = decoder.bias
    if bias is None:
        bias = getattr(owner, "bias", None)
    if not isinstance(bias, Tensor) or bias.shape != decoder.weight.shape[:1]:
        bias = torch.zeros(decoder.out_features, device=decoder.weight.device)
    weight = decoder.weight
    if detach:
        weight, bias = weight.detach().float().contiguous(), bias.detach().float().clone()
    with torch.no_grad():
        frozen = weight.detach().float()
        center = _layer_norm_bias(owner, weight.shape[1]).to(frozen.device)
        return MlmHead(
            owner=owner_path,
            attr=attr,
            weight=weight,
            bias=bias,
            center=center,
            centred_bias=bias.detach().float() + frozen @ center,
            weight_norms=frozen.norm(dim=1),
            weight_bf16=frozen.to(torch.bfloat16),
        )


def verified_split(model: nn.Module, tokenizer) -> tuple[MlmHead, nn.Module] | None:
    """`split_head` and its `without_decoder` twin, kept only if hidden @ W.T + b gives the
    model's own logits on a probe (a head with anything after its decoder, e.g. logit
    soft-capping, is refused)."""
    head = split_head(model)
    if head is None:
        return None
    probe = tokenizer(["sparse retrieval checks its head"], return_tensors="pt")
    probe = {k: v.to(head.weight.device) for k, v in probe.items()}
    training = model.training
    model.eval()  # no dropout: both passes must see the same function
    try:
        with torch.no_grad():
            logits = model(**probe).logits.float()
            twin = without_decoder(model, head)
            hidden = twin(**probe).logits.float()
            if hidden.shape[-1] != head.weight.shape[1]:
                return None
            rebuilt = hidden @ head.weight.float().T + head.bias.float()
    finally:
        model.train(training)
    return (head, twin) if torch.allclose(rebuilt, logits, atol=1e-4, rtol=1e-4) else None


def _parent_of(model: nn.Module, target: nn.Module) -> tuple[str, nn.Module | None, str]:
    for path, module in model.named_modules():
        for child_name, child in module.named_children():
            if child is target:
                return path, module, child_name
    return "", None, ""


def _layer_norm_bias(owner: nn.Module, hidden: int) -> Tensor:
    """The bias of the head's last LayerNorm: every token's hidden state is offset by it,
    so centring on it shrinks |h| (43 -> ~20 for splade-tiny) and with it the bound."""
    norms = [m for m in owner.modules() if isinstance(m, nn.LayerNorm)]
    bias = norms[-1].bias if norms else None
    if bias is None or bias.shape != (hidden,):
        return torch.zeros(hidden)
    return bias.detach().float().clone()


def without_decoder(model: nn.Module, head: MlmHead) -> nn.Module:
    """A twin of `model` whose "logits" are the decoder's input (B x L x hidden).

    Its modules are copies but its parameters and buffers are the model's own tensors, so
    it costs no memory, follows training updates, and never mutates the shared model
    (which another thread may be running).
    """
    memo = {id(t): t for t in (*model.parameters(), *model.buffers())}
    twin = copy.deepcopy(model, memo)
    setattr(twin.get_submodule(head.owner), head.attr, nn.Identity())
    return twin


def pad_with_first_token(hidden: Tensor, mask: Tensor) -> Tensor:
    """Replace padding positions by the row's first token: a duplicate cannot change a
    max over tokens, so no masking is needed afterwards."""
    return torch.where(mask.unsqueeze(-1), hidden, hidden[:, :1])


def max_logits_chunked(hidden: Tensor, head: MlmHead, chunk: int = CHUNK) -> Tensor:
    """max over tokens of (hidden @ W.T + b), exactly as the reference, slice by slice."""
    hidden = hidden.float()
    out = torch.empty(hidden.shape[0], head.weight.shape[0], dtype=torch.float32)
    for start in range(0, head.weight.shape[0], chunk):
        rows = slice(start, start + chunk)
        torch.amax(hidden @ head.weight[rows].T, dim=1, out=out[:, rows])
    return out.add_(head.bias)


def bf16_error_factor(hidden_size: int) -> float:
    """kappa with |bf16 pre-pass - exact dot| <= kappa |h| |w| (Cauchy-Schwarz).

    Rounding h and w to bf16 costs (2u + u^2) sum |h_i w_i|; fp32 accumulation of `d`
    exact bf16 products at most gamma_d times that; rounding the result to bf16 u more.
    """
    u, g = BF16_UNIT_ROUNDOFF, FP32_UNIT_ROUNDOFF * hidden_size
    gamma = g / (1 - g)
    return (2 * u + u * u) + gamma * (1 + u) ** 2 + u * (1 + gamma) * (1 + u) ** 2


def candidate_pairs(hidden: Tensor, head: MlmHead, chunk: int = CHUNK) -> tuple[Tensor, Tensor]:
    """(row, vocab column) pairs whose max logit over the row's tokens may be > 0.

    Every pair left out is provably <= 0 in fp32 too: a bf16 pass gives each logit to
    within kappa |h - center| |w| (`bf16_error_factor`), and the bound adds that margin
    for the row's worst token plus SLACK for the reference's own rounding.
    """
    with torch.no_grad():
        centred = hidden.detach().float() - head.center
        low = centred.to(torch.bfloat16)
        approx = torch.empty(
            hidden.shape[0], head.weight.shape[0], dtype=torch.bfloat16, device=hidden.device
        )
        for start in range(0, head.weight.shape[0], chunk):
            rows = slice(start, start + chunk)
            torch.amax(low @ head.weight_bf16[rows].T, dim=1, out=approx[:, rows])
        kappa = bf16_error_factor(hidden.shape[-1]) * 1.01
        radius = centred.norm(dim=-1).amax(dim=1, keepdim=True)  # B x 1: worst token
        bound = approx.float() + head.centred_bias + kappa * radius * head.weight_norms + SLACK
        return torch.nonzero(bound > 0, as_tuple=True)


def positive_max_logits(
    hidden: Tensor, head: MlmHead, chunk: int = CHUNK
) -> tuple[Tensor, Tensor, Tensor, int]:
    """The positive entries of max over tokens of (hidden @ W.T + b), computed exactly.

    Returns (row, column, value, candidates) for entries > 0; `candidates` counts the
    (row, column) pairs re-checked in fp32, for reporting how much the bound prunes.
    """
    rows, cols = candidate_pairs(hidden, head, chunk)
    values = exact_max(hidden.float(), head, rows, cols)
    positive = values > 0
    return rows[positive], cols[positive], values[positive], int(rows.numel())


def exact_max(hidden: Tensor, head: MlmHead, rows: Tensor, cols: Tensor) -> Tensor:
    """fp32 max over each row's tokens for the given (row, vocab column) pairs, with the
    reference's own arithmetic (a dot product, then the bias). Differentiable: the
    gradient reaches the hidden states and only the gathered rows of the weight."""
    if rows.numel() == 0:
        return hidden.new_zeros(0)
    counts = torch.bincount(rows, minlength=hidden.shape[0])
    width = int(counts.max())
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(rows.numel(), device=rows.device) - starts[rows]
    padded = torch.zeros(hidden.shape[0], width, dtype=torch.long, device=rows.device)
    padded[rows, slot] = cols
    # B x L x width: each row's tokens against its own candidate vocabulary rows only.
    logits = torch.bmm(hidden, head.weight[padded].transpose(1, 2))
    best = logits.amax(dim=1)[rows, slot]
    return best + head.bias[cols]


@cache
def cpu_has_fast_bf16() -> bool:
    """AVX512-BF16 or AMX: a bf16 matmul is ~2x fp32 there; elsewhere it is emulated."""
    if torch.cuda.is_available():
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
