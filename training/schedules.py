"""Schedules as pure functions of the step, so a resumed run needs no scheduler state.

`step` is 1-based: the schedule value used by the first optimiser step is value(1).
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULES = ("constant", "linear", "quadratic")


@dataclass(frozen=True)
class LambdaSchedule:
    """A regulariser weight rising from 0 to `value` over `warmup` steps after `start`.

    "quadratic" is SPLADE's and OpenSearch's warm-up: value * (s / warmup)^2, which keeps
    the FLOPS penalty negligible while the ranking loss first adapts, then ramps it up.
    Before `start` the weight is 0; after start + warmup it is `value`.
    """

    value: float
    warmup: int = 0
    start: int = 0
    shape: str = "quadratic"

    def __post_init__(self) -> None:
        if self.shape not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.shape!r}; choose {', '.join(SCHEDULES)}")

    def __call__(self, step: int) -> float:
        if self.value == 0 or step <= self.start:
            return 0.0
        shifted = step - self.start
        if self.shape == "constant" or self.warmup <= 0 or shifted >= self.warmup:
            return self.value
        ratio = shifted / self.warmup
        return self.value * (ratio if self.shape == "linear" else ratio * ratio)


def linear_lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to 1 over `warmup` steps, then linear decay towards 0 at `total`
    (the shape of transformers' "linear" schedule, the OpenSearch sample's default).

    1-based, so the first step already learns (factor 1/warmup) and the last one still
    does (factor 1/(total - warmup)).
    """
    if step <= warmup:
        return step / warmup
    if total <= warmup:
        return 1.0
    return max(0.0, (total - step + 1) / (total - warmup))
