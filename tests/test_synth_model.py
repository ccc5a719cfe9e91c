"""The procedural hand and the capsule renderer, checked against hand-computed geometry."""

from __future__ import annotations

import numpy as np
import pytest

from handdg.synth.geometry import random_rotation
from handdg.synth.hand import LIMITS, POSE_STYLES, forward_kinematics, sample_angles, sample_shape
from handdg.synth.render import Shapes, render

K64 = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 32.0], [0.0, 0.0, 1.0]])


def _spheres(centers, radii, parts, ellipsoid=False) -> Shapes:
    """Spheres as degenerate capsules (or as ellipsoids), grey, one part id each."""
    n = len(centers)
    centers, grey, radii = np.asarray(centers, float), np.full((n, 3), 0.5), np.asarray(radii, float)
    if ellipsoid:
        return Shapes(e_center=centers, e_axes=np.repeat(np.eye(3)[None], n, 0), e_radii=np.repeat(radii[:, None], 3, 1),
                      e_color=grey, e_palm_color=grey, e_palmar=np.zeros((n, 3)), e_part=np.asarray(parts))
    return Shapes(p0=centers, p1=centers, r0=radii, r1=radii, color=grey, palm_color=grey, palmar=np.zeros((n, 3)),
                  nail=np.zeros(n, bool), part=np.asarray(parts))


@pytest.mark.parametrize("ellipsoid", [False, True])
def test_sphere_covers_its_projected_disc_and_its_depth_is_the_front_surface(ellipsoid):
    layers = render(_spheres([[0.0, 0.0, 1.0]], [0.1], [5], ellipsoid), K64, 64, 64)
    # Silhouette of a sphere (r = 0.1, z = 1) seen by f = 100: radius f r / sqrt(z^2 - r^2) = 10.05 px.
    assert layers.alpha.sum() == pytest.approx(np.pi * 10.05**2, rel=0.02)
    assert layers.depth[32, 32] == pytest.approx(0.9, abs=1e-4)
    assert layers.part[32, 32] == 5 and layers.part[0, 0] == 0
    edge = layers.alpha[32, 32 + 10]  # the silhouette passes through this pixel: partial coverage
    assert 0.2 < edge < 0.9


def test_nearer_shape_hides_the_one_behind_it():
    shapes = _spheres([[0.0, 0.0, 1.0], [0.0, 0.0, 0.7]], [0.1, 0.05], [3, 4])
    layers = render(shapes, K64, 64, 64)
    assert layers.part[32, 32] == 4 and layers.depth[32, 32] == pytest.approx(0.65, abs=1e-4)
    assert layers.part[32, 32 + 9] == 3  # outside the small sphere's 7.2 px disc, inside the big one's


def test_capsule_between_two_points_covers_the_segment():
    shapes = Shapes(p0=np.array([[-0.2, 0.0, 1.0]]), p1=np.array([[0.2, 0.0, 1.0]]), r0=np.array([0.05]),
                    r1=np.array([0.05]), color=np.full((1, 3), 0.5), palm_color=np.full((1, 3), 0.5),
                    palmar=np.zeros((1, 3)), nail=np.zeros(1, bool), part=np.array([2]))
    layers = render(shapes, K64, 64, 64)
    # Axis from u = 12 to u = 52 on row 32, 5 px radius: a 40 x 10 box plus two half discs.
    assert layers.alpha.sum() == pytest.approx(40 * 10 + np.pi * 25, rel=0.03)
    assert (layers.part[32, 12:53] == 2).all() and layers.part[26, 32] == 0


def test_straight_middle_finger_points_along_its_rest_direction():
    shape = sample_shape(np.random.default_rng(0))
    joints, _ = forward_kinematics(shape, np.zeros((5, 4)))
    # Middle finger rests turned 1 degree towards the thumb: direction (sin 1deg, cos 1deg, 0).
    expected = shape.lengths[2].sum() * np.array([np.sin(np.deg2rad(1.0)), np.cos(np.deg2rad(1.0)), 0.0])
    np.testing.assert_allclose(joints[12] - joints[9], expected, atol=1e-12)


def test_flexing_the_mcp_by_90_degrees_points_the_finger_out_of_the_palm():
    shape = sample_shape(np.random.default_rng(0))
    angles = np.zeros((5, 4))
    angles[2, 1] = 90.0
    joints, _ = forward_kinematics(shape, angles)
    np.testing.assert_allclose(joints[10] - joints[9], [0.0, 0.0, shape.lengths[2, 0]], atol=1e-12)


def test_bone_lengths_are_the_subjects_for_any_articulation():
    rng = np.random.default_rng(1)
    shape = sample_shape(rng)
    joints, _ = forward_kinematics(shape, sample_angles(rng, "fist"))
    for f in range(5):
        bones = np.linalg.norm(np.diff(joints[1 + 4 * f: 5 + 4 * f], axis=0), axis=1)
        np.testing.assert_allclose(bones, shape.lengths[f], rtol=1e-12)


@pytest.mark.parametrize("style", POSE_STYLES)
def test_sampled_angles_stay_within_the_joint_limits(style):
    rng = np.random.default_rng(2)
    for _ in range(50):
        angles = sample_angles(rng, style)
        assert ((angles[0] >= LIMITS["thumb"][:, 0]) & (angles[0] <= LIMITS["thumb"][:, 1])).all()
        assert ((angles[1:] >= LIMITS["finger"][:, 0]) & (angles[1:] <= LIMITS["finger"][:, 1])).all()


def test_random_rotations_are_proper_rotations():
    rng = np.random.default_rng(3)
    for _ in range(20):
        R = random_rotation(rng)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
