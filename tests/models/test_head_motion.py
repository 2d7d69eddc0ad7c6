"""The head proxy that moves hair and ears (warpgen/head.py), checked in torch."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead_studio.warpgen import samples
from talkinghead_studio.warpgen import topology as topo

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch


def turned(lm: np.ndarray, yaw_degrees: float) -> np.ndarray:
    """Landmarks rotated about a vertical axis half a face width behind the face."""
    oval = lm[list(topo.FACE_OVAL)]
    width = oval[:, 0].max() - oval[:, 0].min()
    centre = np.array([oval[:, 0].mean(), oval[:, 1].mean(), oval[:, 2].mean() + 0.5 * width])
    a = np.deg2rad(yaw_degrees)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    return ((lm - centre) @ rot.T + centre).astype(np.float32)


@pytest.fixture(scope="module")
def astronaut():
    return samples.portrait("astronaut", 256)[1]


def test_still_head_moves_nothing(astronaut):
    from talkinghead_studio.warpgen.head import hair_motion, head_frame, ring_vertices

    src = torch.from_numpy(astronaut)
    motion = hair_motion(src, src.clone())
    points = torch.rand(200, 2)
    assert (motion.silhouette().apply(points) - points).abs().max() < 1e-4
    ring_s, ring_d = ring_vertices(src, src.clone(), motion, head_frame(src))
    assert (ring_d[:, :2] - ring_s).abs().max() < 1e-4


def test_in_a_turn_the_hair_beside_the_face_moves_less_than_the_face(astronaut):
    """The face front slides sideways in a yaw; the silhouette beside the cheeks stays
    nearly put (a 2-D fit to the face dragged it along), while the hairline just above
    the forehead, at the front of the skull, goes with the face."""
    from talkinghead_studio.warpgen.head import hair_motion, head_frame, ring_vertices

    src, drv = torch.from_numpy(astronaut), torch.from_numpy(turned(astronaut, 20.0))
    motion = hair_motion(src, drv)
    nose = float(drv[1, 0] - src[1, 0])
    oval = astronaut[list(topo.FACE_OVAL)]
    width = oval[:, 0].max() - oval[:, 0].min()
    side = torch.tensor([[oval[:, 0].min() - 0.3 * width, oval[:, 1].mean()],
                         [oval[:, 0].max() + 0.3 * width, oval[:, 1].mean()]], dtype=torch.float32)
    moved_side = (motion.silhouette().apply(side) - side)[:, 0]
    ring_s, ring_d = ring_vertices(src, drv, motion, head_frame(drv))
    assert topo.FACE_OVAL[0] == topo.FOREHEAD     # ring vertex 0: first layer, forehead
    moved_above = float(ring_d[0, 0] - ring_s[0, 0])
    assert abs(nose) > 0.02
    assert moved_side.abs().max() < 0.5 * abs(nose)
    assert abs(moved_above) > 0.5 * abs(nose) and moved_above * nose > 0
