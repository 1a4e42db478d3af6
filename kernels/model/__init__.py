"""MACE-architecture model blocks built from registered kernels."""
