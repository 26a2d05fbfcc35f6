"""Counting conservation laws: brackets, rank decisions, generators, and D − dim Lie(W) against
closed forms and against a finite-difference reference built from scratch.

Tolerances: everything is float64. Brackets of polynomial fields computed by nested JVPs agree
with hand-derived closed forms to round-off (1e-12 absolute on O(1) values); the central
finite-difference reference (step 1e-5 on O(1) cubic fields) has truncation error ~1e-10, so its
SVD gap is judged with a 1e-6 relative threshold, far from both the error and the O(1) signal.
"""

import warnings

import autograd.numpy as anp
import numpy as np
import pytest

from rgeom.backend import available_backends, get_backend
from rgeom.conservation import (UncertainRankWarning, architectures, from_lifting, from_model, from_phi,
                                lie_algebra, lie_bracket)
from rgeom.conservation.lie import nested_bracket
from rgeom.conservation.rank import decide_rank
from rgeom.conservation.sampling import sample_points, smoothness_report
from rgeom.errors import ConvergenceError, ShapeError

FAST = "torch" if "torch" in available_backends() else "autograd"
A = architectures


def count(gens, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UncertainRankWarning)    # every count here must be certain
        return lie_algebra(gens, **kw)


# --- brackets -----------------------------------------------------------------------------------
def test_bracket_matches_hand_derived_closed_form():
    # X = (θ2, θ1²), Y = (θ1θ2, 1): [X, Y] = DY·X − DX·Y = (θ2² + θ1³, 0) − (1, 2θ1²θ2)
    X = lambda th: anp.stack([th[1], th[0] ** 2])          # noqa: E731
    Y = lambda th: anp.stack([th[0] * th[1], 1.0 + 0 * th[0]])  # noqa: E731
    th = np.array([0.7, -1.3])
    expected = [th[1] ** 2 + th[0] ** 3 - 1.0, -2 * th[0] ** 2 * th[1]]
    np.testing.assert_allclose(lie_bracket(X, Y)(th), expected, atol=1e-12)
    np.testing.assert_allclose(lie_bracket(Y, X)(th), -np.array(expected), atol=1e-12)   # antisymmetry


def test_nested_brackets_satisfy_jacobi_identity():
    rng = np.random.default_rng(0)
    C = rng.standard_normal((3, 3, 3, 3))                  # three quadratic fields on R³

    def field(k):
        return lambda th: anp.einsum("ijk,j,k->i", C[k], th, th) + C[k, :, 0, 0]

    X, Y, Z = (field(k) for k in range(3))
    b = lie_bracket
    th = rng.standard_normal(3)
    total = b(X, b(Y, Z))(th) + b(Y, b(Z, X))(th) + b(Z, b(X, Y))(th)
    assert np.max(np.abs(b(X, b(Y, Z))(th))) > 0.1        # not trivially zero
    np.testing.assert_allclose(total, 0.0, atol=1e-11)


def test_nested_bracket_equals_composed_brackets():
    rng = np.random.default_rng(1)
    C = rng.standard_normal((2, 3, 3, 3))

    def field(theta, omega):                                 # ω picks a combination of 2 fields
        return anp.einsum("m,mijk,j,k->i", omega, C, theta, theta)

    bk = get_backend("autograd")
    om = rng.standard_normal((3, 2))
    th = rng.standard_normal(3)
    X = [lambda t, o=o: field(t, o) for o in om]
    ref = lie_bracket(X[0], lie_bracket(X[1], X[2]))(th)
    np.testing.assert_allclose(nested_bracket(field, 2, bk)(th, om), ref, atol=1e-12)


# --- rank decisions -----------------------------------------------------------------------------
def test_decide_rank_separates_signal_from_noise_and_flags_the_band():
    rng = np.random.default_rng(0)
    A_ = rng.standard_normal((6, 3)) @ rng.standard_normal((3, 5))          # exact rank 3
    noisy = A_ + 1e-14 * rng.standard_normal(A_.shape)
    d = decide_rank(noisy, np.full(6, 1e-13))
    assert (d.rank, d.certain) == (3, True) and d.gap > 1e10 and d.margin > 1e10
    half = A_ + 1e-11 * rng.standard_normal(A_.shape)                      # error 100× the claimed noise
    d = decide_rank(half, np.full(6, 1e-13), min_gap=1e4)
    assert not d.certain and d.n_ambiguous >= 1
    assert decide_rank(np.zeros((3, 4))).rank == 0
    with pytest.raises(ValueError, match="min_gap"):
        decide_rank(A_, min_gap=1.0)
    with pytest.raises(ValueError, match="noise"):
        decide_rank(A_, np.zeros(6))


# --- counts against closed forms ----------------------------------------------------------------
@pytest.mark.parametrize("arch", [
    A.linear_network([2, 2, 2]), A.linear_network([3, 3, 3]), A.linear_network([1, 3, 1]),
    A.linear_network([2, 5, 2]), A.linear_network([2, 3, 2], bias=True), A.linear_network([2, 3, 4, 2]),
    A.linear_network([2, 3, 2, 3], bias=True), A.relu_network([2, 3, 2]), A.relu_network([2, 3, 2], bias=True),
    A.relu_network([3, 4, 2, 3], bias=True), A.relu_network([2, 3, 2, 2, 2]),
    A.conv_relu_block((1, 2, 1), 4, 2), A.attention(3, 2), A.attention(2, 3, 2, 1),
], ids=lambda a: a.spec)
def test_law_count_matches_closed_form(arch):
    res = count(arch.generators(backend=FAST))
    assert res.n_laws == arch.expected_laws, res.summary()
    assert res.certain and res.converged and res.constant_rank
    assert res.n_laws == res.D - res.dim_lie and res.dim_W <= res.dim_lie


def test_two_layer_linear_counts_and_the_role_of_brackets():
    assert [A.linear_network([n, r, m]).expected_laws for n, r, m in ((2, 2, 2), (3, 3, 3))] == [3, 6]
    res = count(A.linear_network([2, 2, 2]).generators(backend=FAST))
    # D − rank ∂φ = 4 only bounds the count: one level of brackets adds a direction
    assert (res.D, res.dim_W, res.dim_lie, res.n_laws) == (8, 4, 5, 3)
    assert [lv.ranks for lv in res.levels][:2] == [(4, 4, 4), (5, 5, 5)]


def test_single_product_phi_has_a_one_dimensional_lie_algebra():
    res = count(from_phi(lambda th: th[:1] * th[1:2] * th[2:3], 3))
    assert (res.D, res.dim_W, res.dim_lie, res.n_laws) == (3, 1, 1, 2)


def test_finite_difference_reference_for_two_layer_linear():
    """Dense reference from scratch: the 4 fields ∇(UVᵀ)ᵢⱼ, Jacobians by central differences, all
    pairwise brackets; rank of fields + brackets = dim Lie = 5 (one bracket level suffices)."""
    rng = np.random.default_rng(3)
    th = rng.standard_normal(8)

    def fields(t):   # rows: ∇ of the entries of W2 W1 (W1 = t[:4], W2 = t[4:], both 2 × 2 row-major)
        W1, W2 = t[:4].reshape(2, 2), t[4:].reshape(2, 2)
        out = []
        for i in range(2):
            for j in range(2):
                g1, g2 = np.zeros((2, 2)), np.zeros((2, 2))
                g1[:, j] = W2[i, :]            # ∂(W2 W1)ᵢⱼ / ∂W1[k, j] = W2[i, k]
                g2[i, :] = W1[:, j]            # ∂(W2 W1)ᵢⱼ / ∂W2[i, k] = W1[k, j]
                out.append(np.concatenate([g1.ravel(), g2.ravel()]))
        return np.array(out)

    h = 1e-5
    J = np.stack([(fields(th + h * e) - fields(th - h * e)) / (2 * h) for e in np.eye(8)], axis=2)
    X = fields(th)
    brackets = [J[b] @ X[a] - J[a] @ X[b] for a in range(4) for b in range(a + 1, 4)]
    s = np.linalg.svd(np.vstack([X] + brackets), compute_uv=False)
    assert int(np.sum(s > 1e-6 * s[0])) == 5
    assert count(A.linear_network([2, 2, 2]).generators(backend=FAST)).dim_lie == 5


def test_backends_agree(bk):
    gens = from_phi(lambda th: th[:1] * th[1:], 2, inverse_metric=lambda th, u: th * u, backend=bk)
    res = count(gens)
    assert (res.dim_W, res.dim_lie, res.n_laws, res.backend) == (1, 1, 1, bk.name)


def test_from_model_matches_the_factorization_counts():
    """The real attention layer on random sequences vs its factorization φ = (W_Q W_Kᵀ, W_V W_O)."""
    arch = A.attention(2, 2)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((1, arch.input_shape[0])) for _ in range(6)]
    gens = from_model(lambda th, x: arch.model(th, x, get_backend(FAST).xp), xs, arch.dim, backend=FAST)
    assert count(gens).n_laws == count(arch.generators(backend=FAST)).n_laws == arch.expected_laws


def test_relu_lifting_matches_a_real_relu_network_on_data():
    """On enough spread-out data every neuron switches on and off, and the data span the lifting's
    fields; with few inputs a neuron can be dead or linear on all of them (then ranks differ
    between points and the count is reported uncertain)."""
    arch = A.relu_network([2, 3, 2], bias=True)
    xs = list(5.0 * np.random.default_rng(0).standard_normal((200, 1, 2)))
    gens = from_model(lambda th, x: arch.model(th, x, get_backend(FAST).xp), xs, arch.dim, backend=FAST)
    assert count(gens).n_laws == arch.expected_laws == 3


def test_natural_gradient_with_a_metric_object():
    from rgeom.metrics import Diagonal

    metric = Diagonal(lambda th: 1.0 / th)         # G = diag(1/θ): the entropic mirror flow
    gens = from_phi(lambda th: th[:1] * th[1:], 2, metric=metric,
                    sampler=lambda rng: rng.uniform(0.5, 2.0, size=2))
    np.testing.assert_allclose(gens.basis(np.array([2.0, 3.0])), [[6.0, 6.0]], atol=1e-12)
    assert count(gens).n_laws == 1


def test_momentum_counts():
    assert count(A.linear_network([2, 2, 2]).generators(backend=FAST).momentum(0.5)).n_laws == 1
    assert count(A.relu_network([2, 2, 1]).generators(backend=FAST).momentum(0.5)).n_laws == 0
    res = count(A.linear_network([2, 3, 2]).generators(backend=FAST).momentum(0.0))   # s = t
    assert (res.D, res.n_laws) == (25, 3)


def test_summary_and_dict_report_the_evidence():
    res = count(A.relu_network([2, 3, 2]).generators(backend=FAST))
    d = res.as_dict()
    assert {"D", "dim_W", "dim_lie", "n_laws", "levels", "certain"} <= set(d)
    assert d["levels"][0]["min_gap"] > 1e8 and "level 1" in res.summary()


# --- bad input ----------------------------------------------------------------------------------
def test_non_differentiable_points_are_reported_and_resampled():
    gens = from_phi(lambda th: anp.abs(th[:1]) * th[1:], 2,
                    sampler=lambda rng: rng.integers(-1, 2, size=2).astype(float))
    res = count(gens, n_points=4)
    assert any("not differentiable" in m and "resampled" in m for m in res.messages)
    assert res.n_laws == 1 and np.all(res.points[:, 0] != 0)


def test_non_differentiable_user_point_raises():
    gens = from_phi(lambda th: anp.abs(th[:1]) * th[1:], 2)
    assert smoothness_report(gens, np.array([0.5, 1.0]), np.random.default_rng(0)) is None
    with pytest.raises(ValueError, match=r"points\[1\].*not differentiable"):
        lie_algebra(gens, points=np.array([[0.5, 1.0], [0.0, 1.0]]))


def test_nowhere_finite_phi_gives_up_with_a_clear_error():
    gens = from_phi(lambda th: anp.sqrt(-(th[:1] ** 2) - 1.0) * th[1:], 2, n_components=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="non-finite"):
            sample_points(gens, 1, np.random.default_rng(0), max_resample=2)


def test_rank_without_a_clear_gap_is_uncertain_never_guessed():
    # generators e1 and e1 + 1e-13 e2: the second direction is ~20 noise units, inside the band
    gens = from_phi(lambda th: anp.array([1.0, 1.0]) * th[0] + anp.array([0.0, 1e-13]) * th[1], 2)
    with pytest.warns(UncertainRankWarning, match="uncertain"):
        res = lie_algebra(gens)
    assert not res.certain and any("rank uncertain" in m for m in res.messages)
    with pytest.raises(ConvergenceError):
        lie_algebra(gens, strict=True)


def test_no_stagnation_is_reported():
    with pytest.warns(UncertainRankWarning, match="no stagnation"):
        res = lie_algebra(A.linear_network([2, 2, 2]).generators(backend=FAST), max_level=0)
    assert not res.converged and not res.certain


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="dim"):
        from_phi(lambda th: th, 0)
    with pytest.raises(TypeError, match="phi"):
        from_phi(np.ones(3), 3)
    with pytest.raises(ShapeError, match="names"):
        from_phi(lambda th: th, 2, names=["a"])
    with pytest.raises(ValueError, match="either metric"):
        from_phi(lambda th: th, 2, metric=object(), inverse_metric=lambda t, u: u)
    with pytest.raises(ShapeError, match="1-D array of components"):
        from_phi(lambda th: anp.outer(th, th), 2)
    with pytest.raises(ShapeError, match="sampler"):
        lie_algebra(from_phi(lambda th: th, 2, sampler=lambda rng: np.zeros(3)))
    with pytest.raises(ValueError, match="damping"):
        from_phi(lambda th: th, 2).momentum(-1.0)
    with pytest.raises(ValueError, match="basis"):
        from_lifting(lambda th, om, xp: xp.sum(th * om), 2, 2).basis(np.ones(2))
    with pytest.raises(ValueError, match="widths"):
        A.relu_network([3])
    with pytest.raises(ValueError, match="spec"):
        A.parse_spec("relu")
    with pytest.raises(ValueError, match="integers"):
        A.parse_spec("linear:2,x,2")
    with pytest.raises(ValueError, match="cannot load"):
        A.parse_spec("no_such_module_xyz:factory")
    with pytest.raises(ValueError, match="image"):
        A.conv_relu_block((1, 1, 1), 2, 3)


@pytest.mark.skipif("jax" not in available_backends(), reason="needs jax")
def test_jax_runs_in_float64_without_flipping_the_global_flag():
    """In a fresh interpreter with x64 off: the count is certain (float64 inside a scoped
    ``jax.enable_x64``) and the process-wide flag is untouched afterwards."""
    import subprocess
    import sys

    code = ("import jax, jax.numpy as jnp\n"
            "from rgeom.conservation import from_phi, lie_algebra\n"
            "res = lie_algebra(from_phi(lambda th: th[:1] * th[1:2] * th[2:3], 3, backend='jax'))\n"
            "print(res.n_laws, res.certain, jax.config.jax_enable_x64, jnp.ones(1).dtype)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "True", "False", "float32"]
