"""Flat parameter vectors ↔ named parameter tensors.

Every model adapter in :mod:`rgeom.models` works on one flat coordinate vector ``θ`` of shape
``(D,)`` (what metrics, maps and the flatness engine expect); a :class:`ParamLayout` records which
slice of ``θ`` is which named tensor, in a fixed order.
"""

import numpy as np

from ..errors import NonFiniteError, ShapeError


class ParamLayout:
    """Names, shapes and offsets of the tensors packed into a flat parameter vector.

    Parameters
    ----------
    names : sequence of str
        Tensor names, in the order of the flat vector.
    shapes : sequence of tuple of int
        One shape per name (``()`` for a scalar).

    Attributes
    ----------
    dim : int
        Total number of parameters ``D``.
    sizes : tuple of int
        Number of entries of each tensor.
    offsets : tuple of int
        Start of each tensor in the flat vector.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import ParamLayout
    >>> lay = ParamLayout.from_named({"w": np.ones((2, 3)), "b": np.zeros(2)})
    >>> lay.dim, lay.sizes
    (8, (6, 2))
    >>> theta = lay.flatten({"w": np.arange(6.0).reshape(2, 3), "b": np.array([7.0, 8.0])})
    >>> theta.tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0]
    >>> lay.unflatten(theta)["b"].tolist()
    [7.0, 8.0]
    """

    def __init__(self, names, shapes):
        names = [str(n) for n in names]
        shapes = [tuple(int(s) for s in shp) for shp in shapes]
        if len(names) != len(shapes):
            raise ShapeError(f"ParamLayout: {len(names)} names but {len(shapes)} shapes.")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"ParamLayout: duplicate parameter names {dup}.")
        if not names:
            raise ShapeError("ParamLayout: a model needs at least one parameter tensor.")
        self.names, self.shapes = tuple(names), tuple(shapes)
        self.sizes = tuple(int(np.prod(s, dtype=np.int64)) for s in shapes)
        self.offsets = tuple(int(o) for o in np.concatenate([[0], np.cumsum(self.sizes)[:-1]]))
        self.dim = int(sum(self.sizes))

    @classmethod
    def from_named(cls, named):
        """Layout of a mapping ``name -> array`` (insertion order)."""
        return cls(list(named), [tuple(np.shape(v)) for v in named.values()])

    def index(self, name):
        """``slice`` of tensor ``name`` in the flat vector."""
        try:
            i = self.names.index(name)
        except ValueError:
            raise KeyError(f"no parameter named {name!r}; known: {list(self.names)}") from None
        return slice(self.offsets[i], self.offsets[i] + self.sizes[i])

    def flatten(self, named, xp=np):
        """Concatenate the tensors of ``named`` (in layout order) into a ``(D,)`` vector.

        ``xp`` is the array namespace to use (NumPy by default; ``bk.xp`` for a backend).
        """
        self.check(named)
        return xp.concatenate([xp.reshape(named[n], (-1,)) for n in self.names])

    def unflatten(self, theta):
        """The ``dict name -> tensor`` view of the flat vector ``theta`` (any backend)."""
        shape = tuple(getattr(theta, "shape", ()))
        if shape != (self.dim,):
            raise ShapeError(f"theta must have shape ({self.dim},) for this layout, got {shape}.")
        return {n: theta[o:o + s].reshape(shp) for n, o, s, shp in
                zip(self.names, self.offsets, self.sizes, self.shapes)}

    def check(self, named, *, what="parameters", finite=True):
        """Raise one error listing every missing, unexpected, misshapen or non-finite tensor.

        Parameters
        ----------
        named : mapping str -> array
        what : str
            How to call ``named`` in the message (e.g. the checkpoint's file name).
        finite : bool
            Also reject NaN / inf entries.

        Raises
        ------
        ShapeError
            Missing or unexpected keys, or wrong shapes (all listed).
        NonFiniteError
            Only non-finite values are wrong (all offending keys listed).
        """
        problems = []
        keys = list(named)
        missing = [n for n in self.names if n not in named]
        unexpected = [k for k in keys if k not in self.names]
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
        shapes = []
        for n, shp in zip(self.names, self.shapes):
            if n in named and tuple(np.shape(named[n])) != shp:
                shapes.append(f"{n}: expected {shp}, got {tuple(np.shape(named[n]))}")
        if shapes:
            problems.append("wrong shapes [" + "; ".join(shapes) + "]")
        if problems:
            raise ShapeError(f"{what} do not fit the model: " + ", ".join(problems) + ".")
        if finite:
            from .._checks import concrete

            bad = []
            for n in self.names:
                a = concrete(named[n])
                if a is not None and a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
                    bad.append(n)
            if bad:
                raise NonFiniteError(f"{what} contain non-finite values (NaN or inf) in keys {bad}.")

    def __repr__(self):
        return f"ParamLayout({len(self.names)} tensors, dim={self.dim})"
