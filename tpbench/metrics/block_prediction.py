"""Does a microbenchmark predict the model? Amdahl's law on a model block.

Swap one operation of a block (:mod:`tpbench.spec.model_block`) — the
convolution, say — for a kernel whose microbenchmark runs ``s`` times the
baseline's time (``s`` = the *micro ratio*, same shapes, same pass, same
run). If that operation takes the fraction ``f`` of the baseline block's
time, the block should take::

    predicted block ratio = (1 − f) + f · s

of the baseline block's time. ``f`` is measured, not assumed: the block is
timed once more with the operation replaced by a stub of the same output
shape that costs almost nothing (``f ≈ 1 − T_stub / T_block``). The
*measured* block ratio is the swapped block's time over the baseline
block's. Where predicted and measured disagree, the operation's cost in the
model is not what it costs alone: layout conversions and weight maps around
it, caches shared with its neighbours, another backward graph.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Prediction:
    kernel: str
    micro_ms: float
    block_ms: float
    micro_ratio: float  # the kernel's micro time / the baseline's
    block_ratio: float  # measured: the block with the kernel / the baseline block
    fraction: float  # of the baseline block's time spent in the swapped operation
    predicted: float  # (1 - fraction) + fraction * micro_ratio

    @property
    def error(self) -> float:
        """Predicted over measured, minus one (positive: the micro numbers promised too little speed-up)."""
        return self.predicted / self.block_ratio - 1


def amdahl(fraction: float, micro_ratio: float) -> float:
    """The block's time ratio when the fraction ``fraction`` of it runs ``micro_ratio`` times as long."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    return (1 - fraction) + fraction * micro_ratio


def predictions(micro_ms: dict[str, float], block_ms: dict[str, float], stub_ms: float,
                baseline: str) -> list[Prediction]:
    """One :class:`Prediction` per kernel, from median times of one interleaved run.

    ``stub_ms``: the baseline block with the operation stubbed out. A stub
    slower than the block (noise) gives ``fraction`` 0, clamped.
    """
    if baseline not in micro_ms or baseline not in block_ms:
        raise ValueError(f"baseline {baseline!r} has no time")
    b_micro, b_block = micro_ms[baseline], block_ms[baseline]
    fraction = min(1.0, max(0.0, 1 - stub_ms / b_block))
    rows = []
    for name in micro_ms:
        s = micro_ms[name] / b_micro
        rows.append(Prediction(name, micro_ms[name], block_ms[name], s, block_ms[name] / b_block, fraction,
                               amdahl(fraction, s)))
    return rows


def format_table(rows: list[Prediction]) -> str:
    head = f"{'kernel':<44} {'micro ms':>9} {'block ms':>9} {'micro x':>8} {'f':>5} {'pred x':>7} {'meas x':>7} {'pred/meas':>9}"
    lines = [head]
    for r in rows:
        lines.append(f"{r.kernel:<44} {r.micro_ms:9.1f} {r.block_ms:9.1f} {r.micro_ratio:8.2f} {r.fraction:5.2f} "
                     f"{r.predicted:7.2f} {r.block_ratio:7.2f} {r.predicted / r.block_ratio:9.2f}")
    return "\n".join(lines)
