"""The one vocabulary of outcomes: solver statuses and phases.

Every function that reports how a computation ended uses :class:`Status`; every
function that classifies a (sigma_w, sigma_b) cell uses :class:`Phase`. Both are
``IntEnum``: the integer is the code stored in arrays and in scan Datasets (whose
``flag_values`` / ``flag_meanings`` attributes list these names), the name is what
tables (``to_dataframe``), the CLI and the plots show. The codes of the fixed-point
solver statuses are those of the compiled core (``Status`` in
csrc/sigprop/fixed_point.hpp).
"""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["EDGE_TOL", "Phase", "Status", "names", "phase_codes"]

#: ``|chi1 - 1|`` at or below this counts as the edge of chaos.
EDGE_TOL = 1e-12


class Status(enum.IntEnum):
    """How a computation ended.

    ``not_computed`` fills the cells of a partial scan store that do not hold a
    result yet. ``converged`` through ``c_not_converged`` are the fixed-point
    solver's outcomes (codes of the compiled core); ``no_root``, ``no_eoc`` and
    ``identity`` are those of the root searches and analyses built on it.
    """

    #: A partial store does not hold the cell yet.
    not_computed = -1
    #: The fixed point (or root, or quantity) was found.
    converged = 0
    #: q^l -> infinity (e.g. relu with sigma_w > sqrt(2)).
    divergent = 1
    #: Every q is a fixed point (relu at sigma_w = sqrt(2), sigma_b = 0); chi1 is undefined.
    marginal = 2
    #: The solver stopped without meeting its tolerance.
    not_converged = 3
    #: q* converged but the correlation fixed point c* was not found.
    c_not_converged = 4
    #: The searched quantity has no root in the range given.
    no_root = 5
    #: There is no Edge-of-Chaos point at this sigma_b.
    no_eoc = 6
    #: The map is the identity (q* = 0 at sigma_b = 0 on the EOC): nothing converges.
    identity = 7


class Phase(enum.IntEnum):
    """Phase of a (sigma_w, sigma_b) cell, from chi1 and the solver status."""

    #: A partial store does not hold the cell yet.
    not_computed = -1
    #: chi1 < 1: correlations converge to 1, gradients vanish.
    ordered = 0
    #: chi1 > 1: correlations converge to c* < 1, gradients explode.
    chaotic = 1
    #: ``|chi1 - 1| <= EDGE_TOL``: the Edge of Chaos.
    edge = 2
    #: q^l -> infinity.
    divergent = 3
    #: Every q is a fixed point; chi1 undefined.
    marginal = 4
    #: The fixed point was not found, or chi1 is not finite.
    failed = 5


def names(enum_type: type[enum.IntEnum], codes: ArrayLike) -> np.ndarray | str:
    """The member names of integer ``codes`` (an object array, or a str for a scalar)."""
    c = np.asarray(codes)
    lookup = {int(m): m.name for m in enum_type}
    out = np.vectorize(lambda v: lookup.get(int(v), "invalid"), otypes=[object])(c)
    return str(out[()]) if out.ndim == 0 else out


def flag_attrs(enum_type: type[enum.IntEnum]) -> dict[str, object]:
    """CF ``flag_values`` / ``flag_meanings`` attributes for a Dataset variable."""
    members = sorted(enum_type, key=int)
    return {
        "flag_values": np.array([int(m) for m in members], dtype=np.int8),
        "flag_meanings": " ".join(m.name for m in members),
    }


def phase_codes(chi1: ArrayLike, status: ArrayLike) -> np.ndarray:
    """Phase codes (:class:`Phase`) from chi1 and the fixed-point status.

    Parameters
    ----------
    chi1 : array_like
        chi1 = sigma_w^2 E[phi'(sqrt(q*) Z)^2].
    status : array_like of int
        Fixed-point status codes (:class:`Status`).

    Returns
    -------
    numpy.ndarray of int8
        ordered (chi1 < 1), chaotic (chi1 > 1), edge (``|chi1 - 1| <= EDGE_TOL``),
        divergent (q -> inf), marginal (every q fixed, chi1 undefined), failed
        (not converged, or chi1 not finite); not_computed where the status is.
    """
    chi = np.asarray(chi1, dtype=np.float64)
    st = np.asarray(status)
    out = np.full(np.broadcast(chi, st).shape, Phase.failed, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        out[chi < 1 - EDGE_TOL] = Phase.ordered
        out[chi > 1 + EDGE_TOL] = Phase.chaotic
        out[np.abs(chi - 1) <= EDGE_TOL] = Phase.edge
    out[(st == Status.marginal) & ~np.isfinite(chi)] = Phase.marginal
    out[st == Status.not_converged] = Phase.failed
    out[st == Status.divergent] = Phase.divergent
    out[st == Status.not_computed] = Phase.not_computed
    return out
