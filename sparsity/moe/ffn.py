"""A BERT feed-forward layer run as a mixture of experts (MoEfication).

`MoEFeedForward` takes the place of the block's `intermediate` module and returns the
down projection of the selected experts' activations, summed (hidden size, no bias); the
block's `output.dense` becomes `AddBias` (the down projection's bias), so BertOutput's
dropout, residual and LayerNorm run as before. Neurons are stored grouped by expert
(E x n/E x hidden, contiguous), so an expert is one slice of each matrix.

Routing: `token` gives each token its own top-k experts and runs one grouped dense
product per expert over the tokens routed to it (an expert no token chose costs
nothing); `sequence` sums each sequence's (non-padding) token scores and gives the whole
sequence one top-k, which for a single query is two dense products over k contiguous
blocks. With k = E both equal the dense layer up to float rounding (tested).
"""

from __future__ import annotations

import torch
from torch import nn

ROUTINGS = ("token", "sequence")


class RoutingContext:
    """The attention mask of the current forward call, set by a pre-hook on the model."""

    mask: torch.Tensor | None = None


class AddBias(nn.Module):
    def __init__(self, bias: torch.Tensor | None, width: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(bias.detach().clone()) if bias is not None else None
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.bias is None else x + self.bias


class MoEFeedForward(nn.Module):
    def __init__(
        self,
        up: nn.Linear,
        down: nn.Linear,
        activation,
        experts: list[list[int]],
        router: tuple[torch.Tensor, torch.Tensor],
        top: int,
        routing: str,
        context: RoutingContext,
    ) -> None:
        super().__init__()
        order = torch.tensor([n for group in experts for n in group])
        count, hidden = len(experts), up.in_features
        with torch.no_grad():
            self.w_up = nn.Parameter(up.weight[order].reshape(count, -1, hidden).contiguous())
            self.b_up = nn.Parameter(up.bias[order].reshape(count, -1).contiguous())
            down_t = down.weight[:, order].T.reshape(count, -1, down.out_features)
            self.w_down = nn.Parameter(down_t.contiguous())
        self.register_buffer("router_w", router[0].float())
        self.register_buffer("router_b", router[1].float())
        self.activation, self.top, self.routing, self.context = activation, top, routing, context
        self.experts, self.enabled = count, True

    def dense(self, flat: torch.Tensor) -> torch.Tensor:
        hidden = flat.shape[1]
        mid = torch.addmm(self.b_up.reshape(-1), flat, self.w_up.reshape(-1, hidden).T)
        return self.activation(mid) @ self.w_down.reshape(-1, self.w_down.shape[2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, hidden = x.shape
        flat = x.reshape(-1, hidden)
        if not self.enabled:
            return self.dense(flat).reshape(batch, length, -1)
        scores = torch.addmm(self.router_b, flat, self.router_w.T)
        if self.routing == "sequence":
            per_sequence = self._sequence_scores(scores.reshape(batch, length, -1))
            chosen = per_sequence.topk(self.top, dim=1).indices
            if batch == 1:
                return self._blocks(flat, chosen[0]).reshape(batch, length, -1)
            selected = torch.zeros_like(per_sequence, dtype=torch.bool).scatter_(1, chosen, True)
            selected = selected.repeat_interleave(length, 0)
        else:
            chosen = scores.topk(self.top, dim=1).indices
            selected = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, chosen, True)
        return self._grouped(flat, selected).reshape(batch, length, -1)

    def _sequence_scores(self, scores: torch.Tensor) -> torch.Tensor:
        mask = self.context.mask
        if mask is None or mask.shape != scores.shape[:2]:
            return scores.sum(1)
        return (scores * mask.unsqueeze(-1).to(scores.dtype)).sum(1)

    def _blocks(self, flat: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """All tokens through the chosen experts' contiguous blocks."""
        hidden = flat.shape[1]
        up = self.w_up.index_select(0, chosen).reshape(-1, hidden)
        bias = self.b_up.index_select(0, chosen).reshape(-1)
        down = self.w_down.index_select(0, chosen).reshape(-1, self.w_down.shape[2])
        return self.activation(torch.addmm(bias, flat, up.T)) @ down

    def _grouped(self, flat: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
        """One dense product per chosen expert over the tokens routed to it."""
        out = flat.new_zeros(flat.shape[0], self.w_down.shape[2])
        for expert in selected.any(0).nonzero().squeeze(1).tolist():
            tokens = selected[:, expert].nonzero().squeeze(1)
            mid = torch.addmm(self.b_up[expert], flat[tokens], self.w_up[expert].T)
            out.index_add_(0, tokens, self.activation(mid) @ self.w_down[expert])
        return out

    def extra_repr(self) -> str:
        return f"experts={self.experts}, top={self.top}, routing={self.routing}"
