"""What to prune and how: one validated record, checked before any work starts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from spire.core.errors import SpireError

METHODS = ("magnitude", "random", "wanda", "sparsegpt", "gblm", "dsnot")
STRUCTURES = ("ffn", "heads", "both")
SCOPES = ("row", "layer")
# The comparison group each method's paper uses: Wanda and GBLM rank weights within an
# output row; magnitude and random over the whole matrix. SparseGPT selects per column block.
DEFAULT_SCOPE = {"magnitude": "layer", "random": "layer", "wanda": "row", "gblm": "row"}


@dataclass(frozen=True)
class PruneSpec:
    method: str = "wanda"
    sparsity: float = 0.5  # unstructured: share of weights zeroed; structured: of FFN neurons
    nm: tuple[int, int] | None = None  # keep N weights in every M consecutive inputs
    structured: str | None = None  # "ffn", "heads" or "both": remove whole neurons / heads
    head_sparsity: float | None = None  # share of heads removed (default: `sparsity`)
    scope: str | None = None  # "row" or "layer"; default per method
    layer_sparsity: dict[str, float] = field(default_factory=dict)  # name suffix -> sparsity
    seed: int = 0
    dsnot_base: str = "wanda"  # the mask DSnoT starts from
    dsnot_cycles: int = 50
    blocksize: int = 128  # SparseGPT's column block
    damp: float = 0.01  # SparseGPT's Hessian damping, as a share of its mean diagonal
    gblm_alpha: float = 100.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SpireError(f"unknown pruning method {self.method!r}; known: {', '.join(METHODS)}")
        _check_fraction("sparsity", self.sparsity)
        for name, value in self.layer_sparsity.items():
            _check_fraction(f"sparsity of layer {name!r}", value)
        if self.nm is not None:
            n, m = self.nm
            if not 0 < n < m:
                raise SpireError(f"--nm {n}:{m}: need 0 < N < M")
            if self.structured:
                raise SpireError("--nm and --structured exclude each other")
        if self.structured is not None and self.structured not in STRUCTURES:
            raise SpireError(f"--structured {self.structured!r}: expected ffn, heads or both")
        if self.head_sparsity is not None:
            _check_fraction("head sparsity", self.head_sparsity)
        if self.scope is not None and self.scope not in SCOPES:
            raise SpireError(f"scope {self.scope!r}: expected row or layer")
        if self.dsnot_base not in METHODS or self.dsnot_base == "dsnot":
            raise SpireError(f"DSnoT base {self.dsnot_base!r}: expected one of the other methods")
        if self.structured and self.method == "dsnot":
            raise SpireError("DSnoT swaps single weights; structured pruning takes another method")

    @property
    def effective_scope(self) -> str:
        return self.scope or DEFAULT_SCOPE.get(self.method, "row")

    def sparsity_of(self, layer_name: str) -> float:
        """The target of one layer: its entry in `layer_sparsity` (longest matching name
        suffix), else N:M's share, else the uniform `sparsity`."""
        matches = [k for k in self.layer_sparsity if layer_name.endswith(k)]
        if matches:
            return self.layer_sparsity[max(matches, key=len)]
        if self.nm is not None:
            return 1 - self.nm[0] / self.nm[1]
        return self.sparsity

    def base(self) -> PruneSpec:
        """DSnoT's starting method, with this spec's targets."""
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return PruneSpec(**{**fields, "method": self.dsnot_base})


def parse_nm(text: str | None) -> tuple[int, int] | None:
    """'2:4' -> (2, 4); a malformed pattern is a one-line SpireError."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if not match:
        raise SpireError(f"--nm {text!r}: expected N:M, for example 2:4")
    n, m = int(match.group(1)), int(match.group(2))
    if not 0 < n < m:
        raise SpireError(f"--nm {text}: need 0 < N < M")
    return n, m


def _check_fraction(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0 <= value < 1):
        raise SpireError(f"{name} {value!r} is outside [0, 1)")
