"""Bundled demonstration data: a small ReLU MLP trained on scikit-learn's digits.

Files (regenerated deterministically by ``scripts/train_demo_checkpoint.py``):

* ``digits_relu_mlp.npz`` — the checkpoint: a ``64 → 16 → 10`` ReLU MLP with PyTorch-style
  names (``0.weight``, ``0.bias``, ``2.weight``, ``2.bias``), float64, trained full-batch (Adam,
  L-BFGS, then a Newton–Krylov polish) on the loss below: 100 % training accuracy, gradient norm
  ~1e-3. It is *not* an exact critical point: the minimiser of a ReLU network sits on activation
  kinks (many pre-activations converge to 0), where the gradient cannot vanish.
* ``digits_train.npz`` — ``X`` (600 × 64, pixel intensities / 16) and ``y`` (600 × 10 label-
  smoothed targets, ε = 0.1; probability rows), the training set the checkpoint was fitted to.

The loss is the softmax cross-entropy with those soft targets (a finite minimiser in logit space).

Examples
--------
>>> from rgeom.data import demo_model, demo_paths
>>> demo_model().dim
1210
>>> sorted(demo_paths())
['checkpoint', 'data']
"""

import os

#: Architecture of the bundled checkpoint.
DEMO_SIZES = (64, 16, 10)
#: Label smoothing of the bundled targets.
DEMO_SMOOTHING = 0.1

_HERE = os.path.dirname(os.path.abspath(__file__))


def demo_paths():
    """``{"checkpoint": path, "data": path}`` of the bundled files."""
    return {"checkpoint": os.path.join(_HERE, "digits_relu_mlp.npz"),
            "data": os.path.join(_HERE, "digits_train.npz")}


def demo_model(backend=None):
    """The untrained demo architecture (a :class:`rgeom.models.Model`); load the checkpoint into it.

    Also the ``--model rgeom.data:demo_model`` factory of the command line.
    """
    from ..models import mlp

    return mlp(DEMO_SIZES, activation="relu", backend=backend, seed=0)


def load_demo(backend=None):
    """``(model, data)``: the demo model at the bundled checkpoint and its ``(X, y)`` arrays."""
    from ..checkpoints import load_checkpoint
    from ..models.data import load_arrays

    paths = demo_paths()
    model = load_checkpoint(paths["checkpoint"], demo_model(backend))
    arrays = load_arrays(paths["data"])
    return model, (arrays["X"], arrays["y"])
