"""Loss weighting and gradient combination: how much each task counts. One strategy per file over base.py.

    w = get_weighting("uncertainty")
    w = get_weighting("fixed", weights={"semseg": 1.0, "depth": 0.1})
    w = get_weighting("cagrad", c=0.5)
    fit(..., weighting="pcgrad")  or  fit(..., weighting={"semseg": 1.0, "depth": 0.1})

Loss-based (`weights(losses) -> w[T]`): equal, fixed, uncertainty, dwa, gradnorm, rlw, gls.
Gradient-based (`combine(G[T, P], losses[T]) -> d[P]`): pcgrad, mgda, cagrad, imtl, nash, upgrad, aligned.
Conventions (sum objective, heads keep their own gradient, each method's scale): see base.py.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

from mtl_course.weighting.aligned import AlignedMTL
from mtl_course.weighting.base import GradientWeighting, Weighting
from mtl_course.weighting.cagrad import CAGrad
from mtl_course.weighting.dwa import DWA
from mtl_course.weighting.equal import Equal
from mtl_course.weighting.fixed import Fixed
from mtl_course.weighting.gls import GLS
from mtl_course.weighting.gradnorm import GradNorm
from mtl_course.weighting.imtl import IMTL
from mtl_course.weighting.mgda import MGDA
from mtl_course.weighting.nash import NashMTL
from mtl_course.weighting.pcgrad import PCGrad
from mtl_course.weighting.rlw import RLW
from mtl_course.weighting.uncertainty import Uncertainty
from mtl_course.weighting.upgrad import UPGrad

LOSS_BASED: dict[str, type[Weighting]] = {
    "equal": Equal, "fixed": Fixed, "uncertainty": Uncertainty, "dwa": DWA, "gradnorm": GradNorm, "rlw": RLW,
    "gls": GLS}
GRADIENT_BASED: dict[str, type[GradientWeighting]] = {
    "pcgrad": PCGrad, "mgda": MGDA, "cagrad": CAGrad, "imtl": IMTL, "nash": NashMTL, "upgrad": UPGrad,
    "aligned": AlignedMTL}
WEIGHTINGS: dict[str, type[Weighting]] = {**LOSS_BASED, **GRADIENT_BASED}


def get_weighting(name: str | Mapping[str, float] | Weighting, **hparams: Any) -> Weighting:
    """A strategy by name (see WEIGHTINGS) with its hyper-parameters, a ready Weighting, or a
    {task: weight} dict (= fixed)."""
    if isinstance(name, Weighting):
        return name
    if isinstance(name, Mapping):
        return Fixed(name)
    if name not in WEIGHTINGS:
        close = difflib.get_close_matches(str(name).lower(), WEIGHTINGS, n=1)
        raise ValueError(f"unknown weighting {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                         + f" Valid names are {sorted(WEIGHTINGS)}")
    try:
        return WEIGHTINGS[name](**hparams)
    except TypeError as error:
        raise TypeError(f"weighting {name!r}: {error}") from None


__all__ = ["AlignedMTL", "CAGrad", "DWA", "Equal", "Fixed", "GLS", "GRADIENT_BASED", "GradNorm",
           "GradientWeighting", "IMTL", "LOSS_BASED", "MGDA", "NashMTL", "PCGrad", "RLW", "UPGrad", "Uncertainty",
           "WEIGHTINGS", "Weighting", "get_weighting"]
