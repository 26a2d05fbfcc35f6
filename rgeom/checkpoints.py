"""Loading and saving checkpoints (untrusted input: nothing is unpickled).

Formats: PyTorch state dicts (``.pt`` / ``.pth``, always ``torch.load(weights_only=True)``),
``.safetensors`` and NumPy ``.npz`` (``allow_pickle=False``). A checkpoint loaded against a
:class:`~rgeom.models.Model` is validated first: one error lists every missing, unexpected or
misshapen key, or every key holding NaN / inf.
"""

import os

import numpy as np

from .errors import NonFiniteError, ShapeError

#: File extensions understood by :func:`load_checkpoint` and :func:`save_checkpoint`.
FORMATS = (".pt", ".pth", ".safetensors", ".npz")


def _ext(path):
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise ValueError(f"checkpoint {os.fspath(path)!r}: unsupported extension {ext!r}; expected one of {FORMATS}.")
    return ext


def read_state_dict(path):
    """The named arrays of a checkpoint file as ``dict name -> NumPy array``.

    A ``.pt`` file may hold a state dict directly or under ``"state_dict"`` / ``"model"`` (the
    usual training-script layouts); non-tensor entries are rejected with their keys.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> save_checkpoint(p, {"w": np.ones((2, 2))})
    >>> read_state_dict(p)["w"].shape
    (2, 2)
    """
    path = os.fspath(path)
    ext = _ext(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path!r}")
    if ext == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except ValueError as e:
            raise ValueError(f"checkpoint {path!r}: refusing to unpickle objects ({e}).") from None
    if ext == ".safetensors":
        from safetensors.numpy import load_file

        return dict(load_file(path))
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses arbitrary objects
        raise ValueError(f"checkpoint {path!r} could not be loaded with weights_only=True: {e}") from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise TypeError(f"checkpoint {path!r}: expected a state dict, got {type(obj).__name__}.")
    bad = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise TypeError(f"checkpoint {path!r}: entries {bad} are not tensors.")
    return {str(k): v.detach().cpu().numpy() for k, v in obj.items()}


def load_checkpoint(path, model=None):
    """Read a checkpoint; with ``model``, validate it and return the model at those weights.

    Parameters
    ----------
    path : str or os.PathLike
        ``.pt``, ``.pth``, ``.safetensors`` or ``.npz``.
    model : Model, optional
        The architecture to load into.

    Returns
    -------
    dict or Model
        Without ``model`` the raw ``name -> array`` dict; with it, a copy of ``model`` whose
        ``theta`` (and torch buffers, if stored) come from the file.

    Raises
    ------
    ShapeError
        Listing every missing key, unexpected key and wrong shape.
    NonFiniteError
        Listing every key with NaN or inf.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from rgeom.models import mlp
    >>> net = mlp([2, 3, 1])
    >>> p = os.path.join(tempfile.mkdtemp(), "net.npz")
    >>> save_checkpoint(p, net.named())
    >>> np.allclose(load_checkpoint(p, net).theta, net.theta)
    True
    """
    state = read_state_dict(path)
    if model is None:
        return state
    what = f"checkpoint {os.path.basename(os.fspath(path))!r}"
    buffer_shapes = model.buffers[0] if model.buffers is not None else {}
    params = {k: v for k, v in state.items() if k not in buffer_shapes}
    buffers = {k: v for k, v in state.items() if k in buffer_shapes}
    _validate(what, model.layout, params, buffers, buffer_shapes)
    out = model.with_theta(model.flat(params, what=what))
    return out.with_buffers(buffers) if buffers else out


def _validate(what, layout, params, buffers, buffer_shapes):
    """One error naming every offending key: missing, unexpected, misshapen and non-finite.

    ``ShapeError`` when any key is missing, unexpected or misshapen (non-finite keys are listed
    in the same message), ``NonFiniteError`` when non-finite values are the only problem.
    """
    nonfinite = [k for k, v in {**params, **buffers}.items()
                 if np.asarray(v).dtype.kind in "fc" and not np.all(np.isfinite(v))]
    wrong = [f"{k}: expected {buffer_shapes[k]}, got {tuple(np.shape(v))}" for k, v in buffers.items()
             if tuple(np.shape(v)) != tuple(buffer_shapes[k])]
    also = f" Non-finite values (NaN or inf) in keys {nonfinite}." if nonfinite else ""
    try:
        layout.check(params, what=what, finite=False)
    except ShapeError as e:
        extra = f" Buffers with wrong shapes [{'; '.join(wrong)}]." if wrong else ""
        raise ShapeError(f"{e}{extra}{also}") from None
    if wrong:
        raise ShapeError(f"{what} does not fit the model: buffers with wrong shapes [{'; '.join(wrong)}].{also}")
    if nonfinite:
        raise NonFiniteError(f"{what} contains non-finite values (NaN or inf) in keys {nonfinite}.")


def save_checkpoint(path, named):
    """Write ``dict name -> array`` (or a :class:`~rgeom.models.Model`'s parameters) to ``path``.

    The format follows the extension (``.pt``/``.pth`` through ``torch.save`` of tensors only,
    ``.safetensors``, ``.npz``).
    """
    if hasattr(named, "named") and callable(named.named):
        named = named.named()
    path = os.fspath(path)
    ext = _ext(path)
    arrays = {str(k): np.ascontiguousarray(np.asarray(v)) for k, v in named.items()}
    if ext == ".npz":
        np.savez(path, **arrays)
    elif ext == ".safetensors":
        from safetensors.numpy import save_file

        save_file(arrays, path)
    else:
        import torch

        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, path)
