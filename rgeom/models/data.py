"""Data sets as lists of ``(X, y)`` batches, loaded from arrays, files or iterables.

Curvature over the full data set is an average over samples, so every metric and loss in
:mod:`rgeom.metrics.fisher` walks the batches of a :class:`Data` object and weights each batch by
its size. Files are untrusted input: ``.npz`` loads with ``allow_pickle=False`` and ``.pt`` with
``weights_only=True``.
"""

import os
import sys

import numpy as np

from ..errors import NonFiniteError, ShapeError


def progress(iterable, *, total=None, desc=None, enabled=None):
    """Wrap ``iterable`` in a tqdm progress bar on stderr when it helps.

    The bar is shown only when ``enabled`` is true, or when ``enabled is None`` and stderr is a
    terminal; tqdm is imported only then.

    Examples
    --------
    >>> list(progress(range(3), enabled=False))
    [0, 1, 2]
    """
    if enabled is None:
        enabled = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)


class Data:
    """A finite data set held as a list of ``(X, y)`` NumPy batches.

    Parameters
    ----------
    batches : list of (array, array)
        ``X`` of shape ``(n_b, ...)`` and targets ``y`` with ``n_b`` rows.

    Attributes
    ----------
    n : int
        Total number of samples ``N``.

    Examples
    --------
    >>> import numpy as np
    >>> from rgeom.models import Data
    >>> d = Data.from_any((np.zeros((5, 2)), np.arange(5)), batch_size=2)
    >>> d.n, [len(X) for X, _ in d]
    (5, [2, 2, 1])
    """

    def __init__(self, batches):
        batches = [(np.asarray(X), np.asarray(y)) for X, y in batches]
        for i, (X, y) in enumerate(batches):
            if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
                raise ShapeError(
                    f"data batch {i}: X and y must have the same number of rows, got X "
                    f"{X.shape} and y {y.shape}."
                )
            bad = [name for name, a in (("X", X), ("y", y)) if a.dtype.kind in "fc" and not np.all(np.isfinite(a))]
            if bad:
                raise NonFiniteError(f"data batch {i}: {' and '.join(bad)} contain(s) non-finite values (NaN or inf).")
        batches = [b for b in batches if b[0].shape[0] > 0]
        if not batches:
            raise ShapeError("data: the data set is empty (no samples); curvature needs at least one.")
        self.batches = batches
        self.n = int(sum(X.shape[0] for X, _ in batches))

    @classmethod
    def from_any(cls, data, *, batch_size=None):
        """Build from ``(X, y)``, ``{"X": .., "y": ..}``, a file path, a :class:`Data` or an iterable.

        Parameters
        ----------
        data : tuple, dict, str or os.PathLike, Data, or iterable of (X, y)
            A path may be ``.npz`` (arrays ``X`` and ``y``), ``.safetensors`` (tensors ``X``
            and ``y``) or ``.pt``/``.pth`` (a dict with ``X`` and ``y``, weights-only load).
            An iterable of batches is read once and kept.
        batch_size : int, optional
            Split arrays into batches of this many samples (default: one batch).
        """
        if isinstance(data, Data):
            return data if batch_size is None else cls.from_any(data.arrays(), batch_size=batch_size)
        if isinstance(data, (str, os.PathLike)):
            data = load_arrays(data)
        if isinstance(data, dict):
            missing = [k for k in ("X", "y") if k not in data]
            if missing:
                raise ShapeError(f"data: a mapping needs keys 'X' and 'y'; missing {missing}.")
            data = (data["X"], data["y"])
        if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], tuple):
            X, y = np.asarray(data[0]), np.asarray(data[1])
            if X.ndim == 0 or y.ndim == 0 or X.shape[0] != y.shape[0]:
                raise ShapeError(f"data: X and y must have the same number of rows, got {X.shape} and {y.shape}.")
            n = X.shape[0]
            bs = max(n, 1) if batch_size is None else int(batch_size)
            if bs < 1:
                raise ValueError(f"data: batch_size must be a positive integer, got {batch_size!r}.")
            return cls([(X[i:i + bs], y[i:i + bs]) for i in range(0, max(n, 1), bs)])
        try:
            batches = list(data)
        except TypeError:
            raise TypeError(
                f"data must be (X, y), a dict with X and y, a file path or an iterable of (X, y) "
                f"batches, got {type(data).__name__}."
            ) from None
        out = []
        for i, b in enumerate(batches):
            if not (isinstance(b, (tuple, list)) and len(b) == 2):
                raise TypeError(f"data: batch {i} must be a pair (X, y), got {type(b).__name__}.")
            out.append(tuple(_to_numpy(t) for t in b))
        return cls(out)

    def arrays(self):
        """All batches concatenated: ``(X, y)``."""
        return (np.concatenate([X for X, _ in self.batches]), np.concatenate([y for _, y in self.batches]))

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)

    def __repr__(self):
        return f"Data(n={self.n}, batches={len(self.batches)})"


def _to_numpy(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def load_arrays(path):
    """Read a named-array file (``.npz``, ``.safetensors``, ``.pt``/``.pth``) into a dict of NumPy arrays.

    Nothing is unpickled: ``.npz`` uses ``allow_pickle=False``, ``.pt`` ``weights_only=True``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.npz")
    >>> np.savez(p, X=np.zeros((2, 3)), y=np.array([0, 1]))
    >>> sorted(load_arrays(p))
    ['X', 'y']
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except ValueError as e:
            raise ValueError(f"{path!r}: refusing to unpickle objects from an .npz file ({e}).") from None
    if ext == ".safetensors":
        from safetensors.numpy import load_file

        return dict(load_file(path))
    if ext in (".pt", ".pth"):
        import torch

        obj = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict):
            raise TypeError(f"{path!r}: expected a dict of tensors, got {type(obj).__name__}.")
        return {str(k): _to_numpy(v) for k, v in obj.items()}
    raise ValueError(f"{path!r}: unsupported file type {ext!r}; expected .npz, .safetensors, .pt or .pth.")
