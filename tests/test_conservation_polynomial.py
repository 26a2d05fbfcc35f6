"""Polynomial conservation laws: exact kernels over ℚ, the numeric fallback, and independence.

Checks are independent of the solver: each law found is tested against the generators directly
(⟨∇h, χ⟩ at random points, float64: |value| ≤ 1e-10 for O(1) polynomials of degree ≤ 3), the
span of the laws is compared with the closed-form laws by least squares on values at random
points (residual ≤ 1e-9 relative), and the exact coefficients are compared as fractions.
"""

from fractions import Fraction

import autograd.numpy as anp
import numpy as np
import pytest

from rgeom.conservation import architectures as A
from rgeom.conservation import from_phi, polynomial_laws
from rgeom.conservation.polynomial import monomials

pytest.importorskip("sympy")


def assert_conserved(laws, gens, n=6, seed=0):
    """⟨∇h(z), χ_ω(z)⟩ = 0 at random points and generators (gradients by central differences)."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        z = gens.sample_point(rng)
        om = gens.sample_omegas(rng, 1)[0]
        chi = np.asarray(gens.field(z, om))
        h = 1e-6
        grad = np.stack([(laws.evaluate(z + h * e) - laws.evaluate(z - h * e)) / (2 * h)
                         for e in np.eye(z.size)], axis=1)
        assert np.max(np.abs(grad @ chi)) <= 1e-7 * max(1.0, np.abs(grad).max() * np.abs(chi).max())


def same_span(values_a, values_b):
    """Rows (points) x columns (functions): the columns span the same space."""
    for X, Y in ((values_a, values_b), (values_b, values_a)):
        coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
        assert np.linalg.norm(X @ coef - Y) <= 1e-9 * max(1.0, np.linalg.norm(Y))


def test_monomials_order_and_count():
    assert monomials(3, 1) == [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    assert len(monomials(5, 3)) == 55                     # C(8, 3) − 1


def test_product_phi_laws_are_exact_fractions():
    laws = polynomial_laws(from_phi(lambda th: th[:1] * th[1:2] * th[2:3], 3), 2)
    assert laws.exact and laws.n_laws == 2 and laws.independence_rank == 2
    assert laws.expressions() == ["θ1**2 - θ3**2", "θ2**2 - θ3**2"]
    monos = laws.monomials
    first = {monos[a]: c for a, c in laws.exact_coefficients[0]}
    assert first == {(2, 0, 0): Fraction(1), (0, 0, 2): Fraction(-1)}


def test_two_layer_linear_degree_two_is_balancedness():
    arch = A.linear_network([2, 3, 2])
    gens = arch.generators()
    laws = polynomial_laws(gens, 2)
    assert laws.exact and laws.n_laws == 6 == laws.independence_rank == arch.expected_laws
    pts = np.random.default_rng(1).standard_normal((40, arch.dim))
    same_span(laws.evaluate(pts), np.array([arch.known_laws(p, np) for p in pts]))
    assert_conserved(laws, gens)


@pytest.mark.parametrize("bias", [False, True])
def test_relu_degree_two_is_one_law_per_neuron(bias):
    arch = A.relu_network([2, 3, 2], bias=bias)
    laws = polynomial_laws(arch.generators(), 2)
    assert laws.exact and laws.n_laws == 3 == laws.independence_rank
    pts = np.random.default_rng(2).standard_normal((30, arch.dim))
    same_span(laws.evaluate(pts), np.array([arch.known_laws(p, np) for p in pts]))
    assert ("b1[0]**2" in laws.expressions()[0]) == bias


def test_deep_relu_and_conv_per_neuron_and_per_channel():
    for arch in (A.relu_network([2, 2, 2, 1], bias=True), A.conv_relu_block((1, 2, 1), 3, 2)):
        laws = polynomial_laws(arch.generators(), 2)
        assert laws.n_laws == arch.expected_laws
        pts = np.random.default_rng(3).standard_normal((30, arch.dim))
        same_span(laws.evaluate(pts), np.array([arch.known_laws(p, np) for p in pts]))


def test_products_of_laws_are_laws_but_not_independent():
    laws = polynomial_laws(from_phi(lambda th: th[:1] * th[1:2] * th[2:3], 3), 4)
    # degree 2: two laws; degree 4: their three products as well; only 2 functionally independent
    assert laws.n_laws == 5 and laws.independence_rank == 2


def test_mirror_flow_changes_the_laws():
    phi = lambda th: th[:1] * th[1:]  # noqa: E731
    assert polynomial_laws(from_phi(phi, 2), 2).expressions() == ["θ1**2 - θ2**2"]
    mirror = polynomial_laws(from_phi(phi, 2, inverse_metric=lambda th, u: th * u), 2)
    assert mirror.expressions()[0] == "θ1 - θ2" and mirror.independence_rank == 1


def test_momentum_law_is_time_dependent_angular_momentum():
    gens = A.linear_network([2, 2, 2]).generators().momentum(0.5)
    assert polynomial_laws(gens, 2).n_laws == 0
    laws = polynomial_laws(gens, 3)
    assert laws.n_laws == 1
    e = laws.expressions()[0]
    assert e.count("*s*") == 8 and "v_W1" in e and "v_W2" in e
    assert_conserved(laws, gens)
    assert polynomial_laws(A.relu_network([2, 2, 1]).generators().momentum(0.5), 3).n_laws == 0


def test_numeric_path_for_non_polynomial_phi():
    gens = from_phi(lambda th: anp.sin(th[:1]) * th[1:2] * th[2:3], 3)
    laws = polynomial_laws(gens, 2)
    assert not laws.exact and laws.certain and "exact path unavailable" in laws.message
    assert laws.n_laws == 1 and laws.expressions() == ["θ2**2 - θ3**2"]
    with pytest.raises(ValueError, match="exact polynomial laws need"):
        polynomial_laws(gens, 2, exact=True)


def test_numeric_path_agrees_with_exact_path():
    gens = A.relu_network([2, 3, 2], bias=True).generators()
    exact, numeric = polynomial_laws(gens, 2), polynomial_laws(gens, 2, exact=False)
    assert numeric.certain and not numeric.exact and numeric.n_laws == exact.n_laws == 3
    np.testing.assert_allclose(numeric.coefficients, exact.coefficients, atol=1e-8)


def test_bad_arguments():
    gens = from_phi(lambda th: th[:1] * th[1:], 2)
    with pytest.raises(ValueError, match="degree"):
        polynomial_laws(gens, 0)
    with pytest.raises(ValueError, match="max_unknowns"):
        polynomial_laws(A.linear_network([3, 3, 3]).generators(), 4, max_unknowns=100)
