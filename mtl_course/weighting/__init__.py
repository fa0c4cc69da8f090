"""Loss weighting: how much each task's loss counts. One strategy per file over base.Weighting.

    w = get_weighting("equal")
    w = get_weighting("fixed", weights={"semseg": 1.0, "depth": 0.1})
    fit(..., weighting="equal")  or  fit(..., weighting={"semseg": 1.0, "depth": 0.1})
"""

from __future__ import annotations

from typing import Any, Mapping

from mtl_course.weighting.base import Weighting
from mtl_course.weighting.equal import Equal
from mtl_course.weighting.fixed import Fixed

WEIGHTINGS: dict[str, type[Weighting]] = {"equal": Equal, "fixed": Fixed}


def get_weighting(name: str | Mapping[str, float] | Weighting, **hparams: Any) -> Weighting:
    """A strategy by name (see WEIGHTINGS), a ready Weighting, or a {task: weight} dict (= fixed)."""
    if isinstance(name, Weighting):
        return name
    if isinstance(name, Mapping):
        return Fixed(name)
    if name not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {name!r}; valid names are {sorted(WEIGHTINGS)}")
    return WEIGHTINGS[name](**hparams)


__all__ = ["Equal", "Fixed", "WEIGHTINGS", "Weighting", "get_weighting"]
