"""Shape families: functions that turn suite axes into :class:`Problem` objects.

Notation: ``s2(L, p)`` is ``1x0 + 1x1 + ... + 1xL`` with parity ``(-1)^l``
(the parity of spherical harmonics), ``s2ap(L)`` holds every ``l <= L`` in
both parities.

=====================  ==============================================================
family                 problem
=====================  ==============================================================
``siso(L)``            ``1xL ⊗ 1xL -> 1xL`` (parity ``(-1)^L``; odd ``L`` has no path)
``simo(L)``            ``1xL ⊗ 1xL -> s2(2L)``
``mimo(L)``            ``s2(L) ⊗ s2(L) -> s2(2L)`` (Price of Freedom)
``mimo-ap(L)``         ``s2(L) ⊗ s2(L) -> s2ap(2L)``: shows kernels that miss odd paths
``mimo-all(L)``        ``s2ap(L) ⊗ s2ap(L) -> s2ap(2L)``: all four input parity combinations
``channelwise``        ``mul x s2(L_hidden) ⊗ s2(L_sh) -> s2(L_sh)`` by MACE's recipe, uvu, per-sample
``fully_connected``    ``mul x s2(L) ⊗ s2(L) -> mul x s2(L)``, uvw, shared weights
``linear``             ``mul x s2(L) -> mul x s2(L)``, shared weights
``gate``               ``mul x 0e`` scalars + ``L·mul x 0e`` gates + ``mul x (1o..L)``
``model(name)``        a published layer shape (:data:`MODEL_SHAPES`)
``so2_conv``           per edge ``mul x s2(L)`` and the edge vector ``1o`` -> ``mul x s2(L)``, ``|m| <= m_max``
``rotate``             per edge ``mul x s2(L)`` into the edge frame, ``|m| <= m_max`` kept, and back
``symmetric_contraction``  ``mul x s2(L_in)`` -> ``mul x s2(L_out)``, correlation ``ν``, per-species weights
``symmetric_contraction_model(name)``  MACE-MP small / medium / large product basis
``custom``             any irreps spelled out (:func:`custom`)
``conv``               ``channelwise(mul, L_hidden, L_sh)`` per edge of a radius graph, summed into nodes
``conv-model``         ``model(name)`` (channelwise ones) per edge of a radius graph (:mod:`tpbench.spec.conv`)
``conv-mimo``          ``mimo(L)`` (full TP, no weights) per edge: CG, Gaunt and matrix kernels side by side
``sh``                 spherical harmonics ``s2(L)`` of ``batch`` edge vectors
``model_block(config)``  a MACE-architecture layer (SH, radial MLP, conv, SC, linears) on a radius graph
=====================  ==============================================================

The published model layers (OpenEquivariance's lists) are :data:`MODEL_SHAPES`.
"""

from __future__ import annotations

from typing import Any, Callable

from e3nn import o3

from tpbench.spec.errors import UserError
from tpbench.spec.paths import channelwise_paths
from tpbench.spec.problem import Problem, parse_irreps


def s2(lmax: int, mul: int = 1) -> str:
    return "+".join(f"{mul}x{l}{'e' if l % 2 == 0 else 'o'}" for l in range(lmax + 1))


def s2ap(lmax: int, mul: int = 1) -> str:
    return "+".join(f"{mul}x{l}{p}" for l in range(lmax + 1) for p in "eo")


def _ir(l: int) -> str:
    return f"{l}{'e' if l % 2 == 0 else 'o'}"


def _check_L(L: int, name: str = "L", low: int = 0) -> int:
    if isinstance(L, bool) or not isinstance(L, int) or L < low:
        raise UserError(f"{name} must be an integer >= {low}, got {L!r}")
    return int(L)


def siso(L: int, batch: int = 10_000, dtype: str = "float32") -> Problem:
    L = _check_L(L)
    return Problem("tp", f"1x{_ir(L)}", f"1x{_ir(L)}", f"1x{_ir(L)}", batch=batch, dtype=dtype,
                   family="siso", params=(("L", L),))


def simo(L: int, batch: int = 10_000, dtype: str = "float32") -> Problem:
    L = _check_L(L)
    return Problem("tp", f"1x{_ir(L)}", s2(2 * L), f"1x{_ir(L)}", batch=batch, dtype=dtype,
                   family="simo", params=(("L", L),))


def mimo(L: int, batch: int = 10_000, dtype: str = "float32") -> Problem:
    L = _check_L(L)
    return Problem("tp", s2(L), s2(2 * L), s2(L), batch=batch, dtype=dtype, family="mimo", params=(("L", L),))


def mimo_ap(L: int, batch: int = 10_000, dtype: str = "float32") -> Problem:
    L = _check_L(L)
    return Problem("tp", s2(L), s2ap(2 * L), s2(L), batch=batch, dtype=dtype,
                   family="mimo-ap", params=(("L", L),))


def mimo_all(L: int, batch: int = 10_000, dtype: str = "float32") -> Problem:
    """Both parities in and out: every parity combination, ``0o ⊗ 0o -> 0e`` included."""
    L = _check_L(L)
    return Problem("tp", s2ap(L), s2ap(2 * L), s2ap(L), batch=batch, dtype=dtype,
                   family="mimo-all", params=(("L", L),))


def channelwise_problem(in1: str, in2: str, target: str, batch: int, dtype: str, family: str,
                        params: tuple = ()) -> Problem:
    """A channelwise (uvu, per-sample weights) problem whose output follows MACE's sorted recipe."""
    a, b, t = (parse_irreps(x, name) for x, name in ((in1, "irreps_in1"), (in2, "irreps_in2"), (target, "target")))
    out = channelwise_paths(a, b, t).irreps_out
    if not len(out):
        raise UserError(f"channelwise {in1} x {in2} has no path into {target}")
    return Problem("tp", str(a), str(out), str(b), connection="channelwise", weights="per-sample",
                   batch=batch, dtype=dtype, family=family, params=params)


def channelwise(mul: int, L_hidden: int, L_sh: int, batch: int = 10_000, dtype: str = "float32") -> Problem:
    mul, L_hidden, L_sh = _check_L(mul, "mul", 1), _check_L(L_hidden, "L_hidden"), _check_L(L_sh, "L_sh")
    # MACE's interaction irreps: the edge harmonics' irreps, so the message reaches degree L_sh.
    return channelwise_problem(s2(L_hidden, mul), s2(L_sh), s2(L_sh), batch, dtype, "channelwise",
                               (("mul", mul), ("L_hidden", L_hidden), ("L_sh", L_sh)))


def fully_connected(mul: int, L: int, batch: int = 10_000, dtype: str = "float32") -> Problem:
    mul, L = _check_L(mul, "mul", 1), _check_L(L)
    return Problem("tp", s2(L, mul), s2(L, mul), s2(L), connection="fully_connected", weights="shared",
                   batch=batch, dtype=dtype, family="fully_connected", params=(("mul", mul), ("L", L)))


def linear(mul: int, L: int, batch: int = 10_000, dtype: str = "float32") -> Problem:
    mul, L = _check_L(mul, "mul", 1), _check_L(L)
    return Problem("linear", s2(L, mul), s2(L, mul), weights="shared", batch=batch, dtype=dtype,
                   family="linear", params=(("mul", mul), ("L", L)))


def gate(mul: int, L: int, batch: int = 10_000, dtype: str = "float32") -> Problem:
    """Scalars, then one gate scalar per gated irrep block, then the gated irreps (e3nn ``nn.Gate`` order)."""
    mul, L = _check_L(mul, "mul", 1), _check_L(L, low=1)
    gated = "+".join(f"{mul}x{_ir(l)}" for l in range(1, L + 1))
    irreps_in = f"{mul}x0e+{L * mul}x0e+{gated}"
    return Problem("gate", irreps_in, f"{mul}x0e+{gated}", batch=batch, dtype=dtype,
                   family="gate", params=(("mul", mul), ("L", L)))


# name -> (in1, in2, target/out, connection); OpenEquivariance's published lists.
MODEL_SHAPES: dict[str, tuple[str, str, str, str]] = {
    "mace-large": ("128x0e+128x1o+128x2e", "0e+1o+2e+3o", "128x0e+128x1o+128x2e+128x3o", "channelwise"),
    "mace-medium": ("128x0e+128x1o", "0e+1o+2e+3o", "128x0e+128x1o+128x2e", "channelwise"),
    "nequip-lips": ("32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "0e+1o+2e",
                    "32x0o+32x0e+32x1o+32x1e+32x2o+32x2e", "channelwise"),
    "nequip-l1": ("64x0o+64x0e+64x1o+64x1e", "0e+1o", "64x0o+64x0e+64x1o+64x1e", "channelwise"),
    "nequip-l2": ("64x0o+64x0e+64x1o+64x1e+64x2o+64x2e", "0e+1o+2e",
                  "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e", "channelwise"),
    "nequip-l3": ("64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", "0e+1o+2e+3o",
                  "64x0o+64x0e+64x1o+64x1e+64x2o+64x2e+64x3o+64x3e", "channelwise"),
    "diffdock-l1": ("10x1o+10x1e+48x0e+48x0o", "0e+1o", "10x1o+10x1e+48x0e+48x0o", "fully_connected"),
    "diffdock-l2": ("10x1o+10x1e+48x0e+48x0o", "0e+1o+2e", "10x1o+10x1e+48x0e+48x0o", "fully_connected"),
}


def model(name: str, batch: int = 10_000, dtype: str = "float32") -> Problem:
    if name not in MODEL_SHAPES:
        raise UserError(f"unknown model shape {name!r}; known: {', '.join(MODEL_SHAPES)}")
    in1, in2, out, connection = MODEL_SHAPES[name]
    if connection == "channelwise":
        return channelwise_problem(in1, in2, out, batch, dtype, "model", (("name", name),))
    return Problem("tp", in1, out, in2, connection="fully_connected", weights="shared", batch=batch,
                   dtype=dtype, family="model", params=(("name", name),))


def so2_conv(mul: int, L: int, m_max: int | None = None, batch: int = 10_000, dtype: str = "float32") -> Problem:
    """eSCN's SO(2) convolution on ``batch`` independent edges; ``m_max`` defaults to ``L`` (no truncation)."""
    mul, L = _check_L(mul, "mul", 1), _check_L(L)
    m_max = L if m_max is None else _check_L(m_max, "m_max")
    if m_max > L:
        raise UserError(f"m_max must be <= L, got m_max={m_max} > L={L}")
    return Problem("so2_conv", s2(L, mul), s2(L, mul), "1x1o", weights="per-sample", batch=batch, dtype=dtype,
                   family="so2_conv", params=(("mul", mul), ("L", L), ("m_max", m_max)))


def rotate(L: int, mul: int = 1, m_max: int | None = None, batch: int = 10_000, dtype: str = "float32") -> Problem:
    """Feature rotation into the edge frame and back, ``|m| <= m_max`` kept; ``m_max`` defaults to
    ``min(2, L − 1)`` (eSCN / EquiformerV2 use 2)."""
    L, mul = _check_L(L, "L", 1), _check_L(mul, "mul", 1)
    m_max = min(2, L - 1) if m_max is None else _check_L(m_max, "m_max")
    if m_max >= L:
        raise UserError(f"rotate needs m_max < L (m_max = L keeps everything: the identity), got m_max={m_max}, L={L}")
    return Problem("rotate", s2(L, mul), s2(L, mul), "1x1o", batch=batch, dtype=dtype, family="rotate",
                   params=(("L", L), ("mul", mul), ("m_max", m_max)))


def symmetric_contraction(mul: int, L_in: int, L_out: int, correlation: int = 3, num_elements: int = 10,
                          sorted: bool = False, batch: int = 1000, dtype: str = "float32") -> Problem:
    """MACE's product basis on ``batch`` nodes: ``mul x s2(L_in)`` -> ``mul x s2(L_out)``, random species."""
    mul, L_in, L_out = _check_L(mul, "mul", 1), _check_L(L_in, "L_in"), _check_L(L_out, "L_out")
    correlation, num_elements = _check_L(correlation, "correlation", 1), _check_L(num_elements, "num_elements", 1)
    if correlation > 4:
        raise UserError(f"correlation must be <= 4, got {correlation}")
    if not isinstance(sorted, bool):
        raise UserError(f"sorted must be true or false, got {sorted!r}")
    return Problem("symmetric_contraction", s2(L_in, mul), s2(L_out, mul), weights="shared", batch=batch,
                   dtype=dtype, family="symmetric_contraction",
                   params=(("mul", mul), ("L_in", L_in), ("L_out", L_out), ("correlation", correlation),
                           ("num_elements", num_elements), ("sorted", sorted)))


# MACE-MP foundation models (Batatia et al. 2023): 128 channels, A to l = 3, correlation 3, 89 elements;
# the hidden irreps (the contraction's output) grow with the size.
SC_MODELS: dict[str, int] = {"mace-mp-small": 0, "mace-mp-medium": 1, "mace-mp-large": 2}


def symmetric_contraction_model(name: str, sorted: bool = False, batch: int = 1000,
                                dtype: str = "float32") -> Problem:
    if name not in SC_MODELS:
        raise UserError(f"unknown symmetric contraction model {name!r}; known: {', '.join(SC_MODELS)}")
    p = symmetric_contraction(128, 3, SC_MODELS[name], 3, 89, sorted, batch, dtype)
    return p.replace(family="symmetric_contraction_model", params=p.params + (("name", name),))


DEFAULT_WEIGHTS = {("tp", "full"): "none", ("tp", "channelwise"): "per-sample",
                   ("tp", "fully_connected"): "shared", ("linear", "full"): "shared", ("gate", "full"): "none"}


def custom(irreps_in1: str, irreps_out: str, irreps_in2: str | None = None, op: str = "tp",
           connection: str = "full", weights: str | None = None, batch: int = 10_000,
           dtype: str = "float32") -> Problem:
    """Any problem spelled out with irreps; for ``channelwise``, ``irreps_out`` is the target filter."""
    weights = weights or DEFAULT_WEIGHTS.get((op, connection), "none")
    params = (("in1", str(irreps_in1)), ("in2", str(irreps_in2)), ("out", str(irreps_out)))
    if op == "tp" and connection == "channelwise":
        return channelwise_problem(irreps_in1, irreps_in2, irreps_out, batch, dtype, "custom", params)
    return Problem(op, irreps_in1, irreps_out, irreps_in2, connection=connection, weights=weights, batch=batch,
                   dtype=dtype, family="custom", params=params)


def conv(structure: str, atoms: int, mul: int, L_hidden: int, L_sh: int, cutoff: float = 5.0,
         order: str = "receiver", dtype: str = "float32") -> Problem:
    """The channelwise message TP on every edge of ``structure``'s radius graph (``batch`` = edges)."""
    from tpbench.spec.conv import conv_problem

    tp = channelwise(mul, L_hidden, L_sh, batch=1, dtype=dtype)
    return conv_problem(tp, structure, atoms, cutoff, order, "conv", tp.params)


def conv_model(name: str, structure: str, atoms: int, cutoff: float = 5.0, order: str = "receiver",
               dtype: str = "float32") -> Problem:
    """A published channelwise layer (:data:`MODEL_SHAPES`) as a convolution on a radius graph."""
    from tpbench.spec.conv import conv_problem

    tp = model(name, batch=1, dtype=dtype)
    if tp.connection != "channelwise":
        raise UserError(f"model shape {name!r} is {tp.connection}, not a message-passing (channelwise) layer")
    return conv_problem(tp, structure, atoms, cutoff, order, "conv-model", tp.params)


def conv_mimo(structure: str, atoms: int, L: int, cutoff: float = 5.0, order: str = "receiver",
              dtype: str = "float32") -> Problem:
    """``mimo(L)`` per edge (full TP, no weights) on a radius graph: every CG, Gaunt and matrix kernel runs it."""
    from tpbench.spec.conv import conv_problem

    tp = mimo(L, batch=1, dtype=dtype)
    return conv_problem(tp, structure, atoms, cutoff, order, "conv-mimo", tp.params)


def sh(L: int, batch: int = 100_000, dtype: str = "float32") -> Problem:
    """Spherical harmonics ``Y_0..Y_L`` of ``batch`` edge vectors (:mod:`tpbench.oracle.references.sh`)."""
    L = _check_L(L)
    return Problem("sh", "1x1o", s2(L), batch=batch, dtype=dtype, family="sh", params=(("L", L),))


def model_block(config: str, structure: str = "diamond", atoms: int = 512, cutoff: float = 5.0,
                order: str = "receiver", dtype: str = "float32") -> Problem:
    """One MACE-architecture layer on a radius graph, energy out (:mod:`tpbench.spec.model_block`)."""
    from tpbench.spec.model_block import model_block as block

    return block(config, structure, atoms, cutoff, order, dtype)


FAMILIES: dict[str, Callable[..., Problem]] = {
    "siso": siso,
    "simo": simo,
    "mimo": mimo,
    "mimo-ap": mimo_ap,
    "mimo-all": mimo_all,
    "channelwise": channelwise,
    "fully_connected": fully_connected,
    "linear": linear,
    "gate": gate,
    "model": model,
    "custom": custom,
    "conv": conv,
    "conv-model": conv_model,
    "conv-mimo": conv_mimo,
    "sh": sh,
    "so2_conv": so2_conv,
    "rotate": rotate,
    "symmetric_contraction": symmetric_contraction,
    "symmetric_contraction_model": symmetric_contraction_model,
    "model_block": model_block,
}


def make_problem(family: str, **params: Any) -> Problem:
    """Build a problem of a named family; unknown families and arguments raise :class:`UserError`."""
    if family not in FAMILIES:
        raise UserError(f"unknown shape family {family!r}; known: {', '.join(FAMILIES)}")
    try:
        return FAMILIES[family](**params)
    except TypeError as exc:
        raise UserError(f"bad parameters for shape family {family!r}: {exc}") from None
