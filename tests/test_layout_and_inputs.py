import torch
from e3nn import o3

from tpbench.spec.layout import convert


def test_layout_roundtrip_and_meaning():
    irreps = o3.Irreps("2x0e+3x1o")
    x = torch.arange(irreps.dim, dtype=torch.float64)[None]
    y = convert(x, irreps, "mul_ir", "ir_mul")
    # block 1 is 3x1o: mul_ir index u*3+k, ir_mul index k*3+u
    block = x[0, 2:].reshape(3, 3)
    assert torch.equal(y[0, 2:].reshape(3, 3), block.T)
    assert torch.equal(convert(y, irreps, "ir_mul", "mul_ir"), x)
