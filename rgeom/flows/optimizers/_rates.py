"""Shared helpers: hyper-parameter checks and the ``β = 1 − γ·lr`` conversion (internal)."""

import math

from .base import check_lr


def check_rate(value, name, owner, *, allow_zero=False):
    """A finite rate per unit time, ``> 0`` (or ``>= 0`` when ``allow_zero``)."""
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: {name} must be a finite number {bound}, got {value!r}.")


def beta(rate, lr, name, owner):
    """The per-step decay ``β = 1 − rate·lr``; raises unless ``0 < β < 1``."""
    lr = check_lr(lr)
    b = 1.0 - rate * lr
    if not 0.0 < b < 1.0:
        raise ValueError(
            f"{owner}: lr={lr!r} is too large for {name}={rate!r}: the per-step decay "
            f"1 - {name}·lr = {b:.3g} must lie in (0, 1); use lr < {1.0 / rate:.3g}."
        )
    return b
