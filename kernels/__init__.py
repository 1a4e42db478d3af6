"""tpbench's built-in kernels, installed as ``tpbench_kernels``, grouped by family.

=============  ===========================================================
``cg``         Clebsch–Gordan: dense per path, sparse, the float64 oracle as a kernel
``gaunt``      Gaunt products: spherical grid, 2D Fourier, vector (cross-product) Gaunt
``matrix``     the matrix tensor product
``layers``     native linear, gate and grid-MLP layers
``libraries``  wrappers of e3nn, cuEquivariance and OpenEquivariance
=============  ===========================================================

Each module lists its kernels in ``KERNELS``; tpbench's ``pyproject.toml``
registers every such list in the entry-point group ``tpbench.kernels``, the
same way a third-party package ships kernels. Optional dependencies are
imported inside the kernels, so importing a module never fails for want of a
GPU package.
"""
