"""Atomic graphs for message passing, built locally and deterministically with ASE (and matscipy).

A graph is the radius graph of a real kind of structure: every ordered pair
(receiver i, sender j) with ``|r_ij| < cutoff``, periodic images included,
where ``r_ij = r_j + S_ij·cell − r_i`` is the vector from the receiver to the
sender (ASE's ``D`` for the pair ``(i, j)``; ``S_ij`` the image shift). Edges
are directed and the list is symmetric: ``(i, j)`` and ``(j, i)`` are both there.

Structures (``STRUCTURES``; ``reps`` repeats of the unit along each axis):

``diamond``        cubic diamond carbon, a = 3.567 Å, 8 atoms per cell, periodic
``fcc-cu``         fcc copper, a = 3.615 Å, 4 atoms per cell, periodic
``water``          liquid-water-like box: one H2O per site of a simple cubic
                   lattice at 1 g/cm³ (a = 3.104 Å), each molecule rotated at
                   random and its centre displaced by up to 0.3 Å (seeded), periodic
``water-cluster``  the water box cut to the sphere inscribed in it, not periodic
                   (a molecule-like cluster: surface atoms have fewer neighbours)

``order`` fixes the edge order: ``receiver`` (sorted by receiver, then sender:
the CSR order segment kernels want) or ``random`` (a seeded permutation: the
worst case for locality of the scatter). Nothing is downloaded or pickled: a
graph is rebuilt from these parameters, and :attr:`Graph.hash` (SHA-256 of
the atom count and the index arrays) says whether two builds agree.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Any

import numpy as np

from tpbench.spec.errors import UserError

STRUCTURES = ("diamond", "fcc-cu", "water", "water-cluster")
ORDERS = ("receiver", "random")
SEED = 0
_WATER_A = 3.104  # Å: (18.015 g/mol / 6.022e23 / 1 g cm^-3)^(1/3)
_ATOMS_PER_CELL = {"diamond": 8, "fcc-cu": 4, "water": 3, "water-cluster": 3}
MAX_ATOMS = 2_000_000


@dataclasses.dataclass(frozen=True, eq=False)
class Graph:
    """A radius graph as plain arrays. ``vectors[e] = r_{senders[e]} − r_{receivers[e]}`` (+ image shift)."""

    positions: np.ndarray  # (N, 3) float64, Å
    senders: np.ndarray  # (E,) int64
    receivers: np.ndarray  # (E,) int64
    vectors: np.ndarray  # (E, 3) float64, Å
    params: tuple[tuple[str, Any], ...]

    @property
    def num_nodes(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.senders.shape[0])

    @functools.cached_property
    def hash(self) -> str:
        h = hashlib.sha256()
        h.update(np.int64(self.num_nodes).tobytes())
        h.update(np.ascontiguousarray(self.senders, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.receivers, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]

    @property
    def receivers_sorted(self) -> bool:
        return bool(np.all(np.diff(self.receivers) >= 0))

    def metadata(self) -> dict[str, Any]:
        """What a result records about its graph."""
        return {**dict(self.params), "atoms": self.num_nodes, "edges": self.num_edges,
                "avg_degree": round(self.num_edges / max(self.num_nodes, 1), 3),
                "receivers_sorted": self.receivers_sorted, "hash": self.hash}


def reps_for(structure: str, atoms: int) -> int:
    """Repeats per axis whose structure has the atom count nearest ``atoms`` (at least 1)."""
    _check_structure(structure)
    per_cell = _ATOMS_PER_CELL[structure] * (np.pi / 6 if structure == "water-cluster" else 1)
    return max(1, int(round((atoms / per_cell) ** (1 / 3))))


def _check_structure(structure: str) -> None:
    if structure not in STRUCTURES:
        raise UserError(f"unknown structure {structure!r}; known: {', '.join(STRUCTURES)}")


def _water_box(reps: int):
    from ase import Atoms
    from ase.build import molecule
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(SEED)
    h2o = molecule("H2O")
    local = h2o.positions - h2o.get_center_of_mass()
    sites = np.stack(np.meshgrid(*[np.arange(reps)] * 3, indexing="ij"), -1).reshape(-1, 3) * _WATER_A
    sites = sites + _WATER_A / 2 + rng.uniform(-0.3, 0.3, sites.shape)
    rot = Rotation.random(len(sites), random_state=rng).as_matrix()
    pos = (sites[:, None, :] + np.einsum("mab,kb->mka", rot, local)).reshape(-1, 3)
    return Atoms(h2o.get_chemical_symbols() * len(sites), positions=pos, cell=[reps * _WATER_A] * 3, pbc=True)


def build_atoms(structure: str, reps: int):
    """The ASE ``Atoms`` of a structure repeated ``reps`` times along each axis."""
    from ase.build import bulk

    _check_structure(structure)
    if structure == "diamond":
        return bulk("C", "diamond", a=3.567, cubic=True).repeat(reps)
    if structure == "fcc-cu":
        return bulk("Cu", "fcc", a=3.615, cubic=True).repeat(reps)
    atoms = _water_box(reps)
    if structure == "water-cluster":
        centre = atoms.cell.diagonal() / 2
        mol = np.linalg.norm(atoms.positions.reshape(-1, 3, 3)[:, 0] - centre, axis=1) <= reps * _WATER_A / 2
        atoms = atoms[np.repeat(mol, 3)]
        atoms.pbc = False
    return atoms


def neighbour_pairs(atoms, cutoff: float, library: str | None = None):
    """``(i, j, D)`` of every pair closer than ``cutoff``: matscipy's list when installed, else ASE's.

    Both give the same pairs (the caller sorts them totally); matscipy's is
    ~20x faster at 10^5 atoms (2.6 s against 48 s for diamond, 8.4e6 edges,
    measured on this project's 2-core CPU).
    """
    if library in (None, "matscipy"):
        try:
            from matscipy.neighbours import neighbour_list
        except ImportError:
            if library == "matscipy":
                raise
        else:
            return neighbour_list("ijD", atoms, cutoff)
    from ase.neighborlist import neighbor_list

    return neighbor_list("ijD", atoms, cutoff)


@functools.lru_cache(maxsize=4)
def build_graph(structure: str, reps: int, cutoff: float, order: str = "receiver") -> Graph:
    """The radius graph of ``structure`` × ``reps``³ at ``cutoff`` Å, edges in ``order``."""
    _check_structure(structure)
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise UserError(f"reps must be a positive integer, got {reps!r}")
    if not isinstance(cutoff, (int, float)) or not 0 < cutoff <= 12:
        raise UserError(f"cutoff must be in (0, 12] Å, got {cutoff!r}")
    if order not in ORDERS:
        raise UserError(f"unknown edge order {order!r}; known: {', '.join(ORDERS)}")
    if _ATOMS_PER_CELL[structure] * reps ** 3 > MAX_ATOMS:
        raise UserError(f"{structure} with reps={reps} exceeds {MAX_ATOMS} atoms")
    atoms = build_atoms(structure, reps)
    i, j, D = neighbour_pairs(atoms, float(cutoff))
    # ASE sorts by i; make the order total (then by j, then by vector) so it never depends on ties.
    perm = np.lexsort((D[:, 2], D[:, 1], D[:, 0], j, i))
    if order == "random":
        perm = perm[np.random.default_rng(SEED + 1).permutation(len(perm))]
    params = (("structure", structure), ("reps", reps), ("cutoff", float(cutoff)), ("order", order))
    return Graph(np.asarray(atoms.positions, dtype=np.float64), j[perm].astype(np.int64),
                 i[perm].astype(np.int64), np.asarray(D[perm], dtype=np.float64), params)
