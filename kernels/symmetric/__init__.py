"""MACE's symmetric contraction (the product basis)."""
