"""K-FAC inside the spectral engine: the eigen-coordinate whitening factor and the batched factor pass.

The references are built from scratch on a tiny network (3 → 5 → 3 tanh, 38 parameters, float64,
40 points whose second input is always 0): a hand-written forward and backward pass per sample,
the Kronecker blocks assembled with ``np.kron`` and placed by hand in the parameter layout, the
loss Hessian by autograd on a hand-written loss, and NumPy ``eigh``. The K-FAC metric there is
singular beyond the softmax shift (the always-zero pixel): kernel = (shift ⊗ 6 hidden-layer
inputs) + (5 hidden units ⊗ the zero pixel) = 11 directions, known without asking rgeom.

* Factor pass (one batched pull-back of all output columns): ``A`` and ``S`` equal the per-sample
  formulas ``(1/N) Σ ā āᵀ`` and ``(1/N) Σ Jᵀ Λ J`` to 1e-12 relative on every backend, for the exact
  and the empirical Fisher, in one batch and in three (float64 sums of 40 O(1) terms: rounding
  ~1e-15, so 1e-12 leaves three orders of margin and catches any missing column, sample or batch).
* The factor ``W = Q Λ^{+1/2}``: ``W Wᵀ = G⁺`` and ``Wᵀ G W`` = the 0/1 range mask to 1e-10
  (``G``'s range has condition number ~3e4: rounding in ``G⁺`` ~1e-12); the Pencil's ``Wᵀ H W``
  has exactly the spectrum of ``G⁺H`` on the range (1e-8 of max|λ|) and zero rows on the kernel;
  its projector (Krylov coordinates) is an idempotent 0/1 mask killing exactly the 11 kernel
  coordinates.
* ``rgeom.flatness(method="lanczos")`` with K-FAC, Christoffel term dropped and kept, against
  ``method="dense"`` on autograd, JAX and torch: top eigenvalue to 1e-8 (residual tol 1e-11; the
  problem's rounding level is ~1e-13 here), trace and log-det within three reported standard
  errors. Seeds: over 60 seeds the trace and log-det of this problem fall outside 3 stderr for
  2–5% of the seeds with the eigen-coordinate factor *and* with the previous symmetric one alike
  (the standard error comes from 10–15 probes: Student-t tails); seeds 1 and 2 are used here
  (|z| ≤ 2.6 for every estimate).
"""

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

from rgeom.backend import available_backends, get_backend
from rgeom.flatness import flatness
from rgeom.linalg import LinearOperator, aslinearoperator, from_metric_at
from rgeom.linalg.generalized import Pencil
from rgeom.linalg.shape import shape_problem
from rgeom.metrics.kfac import KFAC
from rgeom.models import Problem, mlp

N, D_IN, H, C = 40, 3, 5, 3
KERNEL_DIM = 1 * (H + 1) + H * 1  # softmax shift ⊗ (H inputs + bias)  +  H units ⊗ zero pixel


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D_IN))
    X[:, 1] = 0.0  # an always-zero pixel: a kernel of the data (not a symmetry of the model)
    return X, rng.integers(0, C, N)


def unpack(theta):
    """mlp's layout: 0.weight (H, D_IN), 0.bias (H,), 2.weight (C, H), 2.bias (C,)."""
    o1, o2, o3 = H * D_IN, H * D_IN + H, H * D_IN + H + C * H
    return theta[:o1].reshape(H, D_IN), theta[o1:o2], theta[o2:o3].reshape(C, H), theta[o3:]


def softmax(f):
    e = np.exp(f - f.max())
    return e / e.sum()


def reference_factors(theta, X, y, kind="exact"):
    """Per-sample K-FAC factors, hand-written: A = (1/N) Σ ā āᵀ, S = (1/N) Σ Jᵀ Λ J (J = ∂f/∂s)."""
    W1, b1, W2, b2 = unpack(np.asarray(theta, dtype=np.float64))
    A1, S1 = np.zeros((D_IN + 1, D_IN + 1)), np.zeros((H, H))
    A2, S2 = np.zeros((H + 1, H + 1)), np.zeros((C, C))
    for x, label in zip(X, y):
        s1 = W1 @ x + b1
        a1 = np.tanh(s1)
        p = softmax(W2 @ a1 + b2)
        if kind == "exact":  # Fisher of the categorical likelihood = Hessian of CE in the logits
            Lam = np.diag(p) - np.outer(p, p)
        else:  # empirical: the label gradient's outer product
            r = p - np.eye(C)[label]
            Lam = np.outer(r, r)
        J1 = W2 * (1.0 - a1**2)[None, :]  # ∂f/∂s1 = W2 diag(tanh'(s1)), (C, H); ∂f/∂s2 = I
        xb, ab = np.append(x, 1.0), np.append(a1, 1.0)
        A1 += np.outer(xb, xb)
        A2 += np.outer(ab, ab)
        S1 += J1.T @ Lam @ J1
        S2 += Lam
    return [(A1 / N, S1 / N), (A2 / N, S2 / N)]


def dense_kfac(factors):
    """``⊕ S ⊗ A`` on homogeneous blocks V̄ = [W | b], placed by hand in the parameter layout."""
    D = H * D_IN + H + C * H + C
    # tangent index of block entry V̄[i, j] (row-major weight, then the bias column)
    offsets = [(0, H * D_IN, D_IN), (H * D_IN + H, H * D_IN + H + C * H, H)]
    G = np.zeros((D, D))
    for (A, S), (w0, b0, n_in) in zip(factors, offsets):
        n_out = S.shape[0]
        idx = np.array([[w0 + i * n_in + j if j < n_in else b0 + i for j in range(n_in + 1)] for i in range(n_out)])
        G[np.ix_(idx.ravel(), idx.ravel())] = np.kron(S, A)  # vec_row(S V̄ A) = (S ⊗ A) vec_row(V̄)
    return G


def loss_fn(X, y):
    """Mean cross-entropy of the hand-written forward (autograd), for the dense Hessian."""
    def loss(theta):
        W1, b1, W2, b2 = unpack(theta)
        F = anp.dot(anp.tanh(anp.dot(X, W1.T) + b1), W2.T) + b2
        m = anp.max(F, axis=1, keepdims=True)
        lse = anp.log(anp.sum(anp.exp(F - m), axis=1)) + m[:, 0]
        return anp.mean(lse - F[np.arange(len(y)), y])
    return loss


def range_reference(G, kernel_dim):
    """Eigenvectors/values of ``G`` on its range (the ``kernel_dim`` smallest dropped)."""
    lam, U = np.linalg.eigh(G)
    return U[:, kernel_dim:], lam[kernel_dim:], U[:, :kernel_dim]


def net_on(backend, theta=None):
    net = mlp([D_IN, H, C], activation="tanh", seed=1, backend=backend)
    return net if theta is None else net.with_theta(get_backend(backend).asarray(np.asarray(theta)))


# -- the factor pass -------------------------------------------------------------------------
@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("kind, batch_size", [("exact", None), ("exact", 15), ("empirical", None)])
def test_factor_pass_matches_per_sample_reference(data, backend, kind, batch_size):
    X, y = data
    net = net_on(backend)
    bk = get_backend(backend)
    K = KFAC(net, "cross-entropy", (X, y), fisher=kind, batch_size=batch_size)
    got = K.factors(net.theta)
    ref = reference_factors(bk.to_numpy(net.theta), X, y, kind)
    for (A, S), (Ar, Sr) in zip(got, ref):
        assert rel(bk.to_numpy(A), Ar) < 1e-12 and rel(bk.to_numpy(S), Sr) < 1e-12, (backend, kind, batch_size)


# -- the eigen-coordinate factor -------------------------------------------------------------
@pytest.fixture(scope="module")
def engine(data):
    X, y = data
    net = net_on("autograd")
    G_at = KFAC(net, "cross-entropy", (X, y)).at(net.theta)
    G = dense_kfac(reference_factors(net.theta, X, y))
    Hs = autograd.hessian(loss_fn(X, y))(np.asarray(net.theta))
    return net, G_at, G, 0.5 * (Hs + Hs.T)


def _dense(fn, d):
    eye = np.eye(d)
    return np.stack([fn(eye[i]) for i in range(d)], 1)


def test_eigen_factor_whitens_the_dense_kfac(engine):
    net, G_at, G, _ = engine
    d = net.dim
    op = from_metric_at(G_at)
    assert G_at.kernel_dim == op.kernel_dim == KERNEL_DIM and not op.symmetric_factor
    assert rel(G_at.as_matrix(), G) < 1e-12  # the engine's metric is the hand-assembled one
    Ur, lr, _ = range_reference(G, KERNEL_DIM)
    assert lr[0] > 1e-8 * lr[-1]  # a clean gap: the 11 dropped eigenvalues are the kernel
    W, Wt = _dense(op.whiten, d), _dense(op.whiten_t, d)
    assert rel(Wt, W.T) < 1e-12
    Gpinv = (Ur / lr) @ Ur.T
    assert rel(W @ W.T, Gpinv) < 1e-10  # W Wᵀ = G⁺
    mask = op.factor_project(np.ones(d))
    assert set(np.unique(mask)) == {0.0, 1.0} and int(np.sum(mask == 0)) == KERNEL_DIM
    assert np.array_equal(np.asarray(G_at.factor_project(np.ones(d))), mask)  # method = engine's mask
    assert np.abs(W.T @ G @ W - np.diag(mask)).max() < 1e-10  # Wᵀ G W = the range mask
    # the symmetric factor is unchanged: W Qᵀ = G^{+1/2}, a rotation away
    assert rel(_dense(lambda x: np.asarray(G_at.whiten(x)), d), (Ur / np.sqrt(lr)) @ Ur.T) < 1e-10


def test_pencil_operator_has_the_spectrum_on_the_range(engine):
    net, G_at, G, Hs = engine
    d = net.dim
    pencil = Pencil(aslinearoperator(Hs), from_metric_at(G_at))
    assert pencil.mode == "whitened" and pencil.range_dim == d - KERNEL_DIM and "Wᵀ A W" in pencil.method
    Cmat = _dense(pencil.apply, d)
    P = _dense(pencil.project, d)
    keep = np.diag(P) == 1.0
    # the projector of Krylov coordinates: an idempotent 0/1 diagonal killing the kernel coordinates
    assert np.array_equal(P, np.diag(np.diag(P))) and np.array_equal(P @ P, P)
    assert int(np.sum(~keep)) == KERNEL_DIM
    assert np.all(Cmat[~keep] == 0.0) and np.all(Cmat[:, ~keep] == 0.0)  # W maps the kernel to 0 exactly
    Ur, lr, _ = range_reference(G, KERNEL_DIM)
    E_range = np.linalg.eigvalsh((Ur / np.sqrt(lr)).T @ Hs @ (Ur / np.sqrt(lr)))
    got = np.linalg.eigvalsh(0.5 * (Cmat + Cmat.T)[np.ix_(keep, keep)])
    assert np.abs(got - E_range).max() < 1e-8 * np.abs(E_range).max()
    # Ritz vectors map back to tangent vectors with H v = λ G v
    lam, Y = np.linalg.eigh(0.5 * (Cmat + Cmat.T))
    v = pencil.to_vector(Y[:, -1])
    assert np.linalg.norm(Hs @ v - lam[-1] * (G @ v)) < 1e-8 * abs(lam[-1]) * np.linalg.norm(G @ v)


def test_a_singular_nonsymmetric_factor_needs_its_own_projector(engine):
    _, G_at, G, Hs = engine
    op = from_metric_at(G_at)
    bare = LinearOperator(op.mv, op.dim, whiten=op.whiten, whiten_t=op.whiten_t, project=op.project,
                          kernel_dim=op.kernel_dim)
    with pytest.raises(ValueError, match="factor_project"):
        Pencil(aslinearoperator(Hs), bare)
    # a regular metric with a non-symmetric factor needs none (damped K-FAC: the mask is all ones)
    damped_op = from_metric_at(G_at.damped(1e-3))
    assert damped_op.kernel_dim == 0 and not damped_op.symmetric_factor
    assert np.array_equal(damped_op.factor_project(np.ones(op.dim)), np.ones(op.dim))
    Gd = G + 1e-3 * np.eye(op.dim)
    Wd = _dense(damped_op.whiten, op.dim)
    assert rel(Wd @ Wd.T, np.linalg.inv(Gd)) < 1e-10


def test_hessian_kernel_norm_uses_the_tangent_projector(data, engine):
    """With weight decay δ the loss Hessian on the K-FAC kernel is δ·I (the kernel directions are
    exact symmetries of the data term: softmax shift, zero pixel), so ‖H P_ker‖_F = δ √11 exactly.
    A projector of Krylov coordinates applied to tangent vectors would give an O(‖H‖) answer."""
    X, y = data
    net = engine[0]
    delta = 0.1
    prob = Problem(net, "cross-entropy", (X, y))
    loss = lambda th: prob.objective(th) + 0.5 * delta * anp.sum(th**2)  # noqa: E731
    sp = shape_problem(loss, net.theta, KFAC(prob), christoffel=False)
    est = sp.hessian_kernel_norm(n_probes=20, seed=0)
    truth = delta * np.sqrt(KERNEL_DIM)
    assert est.converged and abs(est.value - truth) <= 3 * est.stderr + 1e-10 * truth, (est, truth)
    assert est.stderr < 0.3 * truth  # informative


# -- flatness: matrix-free against dense ----------------------------------------------------------
BACKENDS = available_backends()


@pytest.mark.parametrize("christoffel", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_flatness_lanczos_matches_dense_with_kfac(data, backend, christoffel):
    X, y = data
    net = net_on(backend)
    prob = Problem(net, "cross-entropy", (X, y))
    dense = flatness(prob, net.theta, KFAC(prob), method="dense", christoffel=christoffel, progress=False)
    assert dense.kernel_dim == KERNEL_DIM
    seeds = (1, 2) if backend == "autograd" else (1,)
    for seed in seeds:
        f = flatness(prob, net.theta, KFAC(prob), method="lanczos", christoffel=christoffel, tol=1e-11,
                     measures=["max_eigenvalue", "trace", "logdet"], seed=seed, progress=False)
        assert f.kernel_dim == KERNEL_DIM
        top = f.measures["max_eigenvalue"]
        assert top.converged
        top_dense = dense.measures["max_eigenvalue"].value
        assert abs(top.value - top_dense) < 1e-8 * abs(top_dense), (backend, christoffel, seed, top.value, top_dense)
        for name in ("trace", "logdet"):
            est, truth = f.measures[name], dense.measures[name].value
            assert est.converged, (backend, christoffel, seed, name, est.message)
            assert abs(est.value - truth) <= 3 * est.stderr, (backend, christoffel, seed, name, est.value, truth,
                                                              est.stderr)
            assert 0 < est.stderr < abs(truth), (backend, christoffel, seed, name)  # informative
