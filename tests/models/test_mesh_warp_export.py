"""The shipped mesh-warp file is what its source builds (needs the "train" extra)."""
from __future__ import annotations

import numpy as np
import pytest

from talkinghead_studio.warpgen import topology as topo

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

pytestmark = pytest.mark.torch


def test_baked_triangles_match_the_mediapipe_wheel():
    pytest.importorskip("mediapipe")
    assert [tuple(t) for t in topo.derive_face_triangles()] == list(topo.FACE_TRIANGLES)
    assert len(topo.FACE_TRIANGLES) == 852


_SESSIONS: dict = {}


def run(path, feeds, outputs=("image", "mask")):
    if path not in _SESSIONS:
        _SESSIONS[path] = _open(path)
    session = _SESSIONS[path]
    declared = {i.name for i in session.get_inputs()}
    return session.run(list(outputs), {k: v for k, v in feeds.items() if k in declared})


def run_companion(model, feeds):
    """The companion's outputs (its portrait stage run first), in COMPANION_OUTPUTS order."""
    from talkinghead_studio.inference.sampling import COMPANION_OUTPUTS, CompanionRunner
    from talkinghead_studio.warpgen.export import companion_path

    key = ("companion", model)
    if key not in _SESSIONS:
        main = dict(_open(model).get_modelmeta().custom_metadata_map)
        _SESSIONS[key] = CompanionRunner(companion_path(model), _open, main)
    outputs = _SESSIONS[key].run(feeds)
    return [outputs[name] for name in COMPANION_OUTPUTS]


def _open(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def fresh_export(tmp_path_factory):
    from talkinghead_studio.warpgen.export import export_onnx

    return export_onnx(tmp_path_factory.mktemp("export") / "mesh_warp.onnx")


def test_fresh_export_matches_the_shipped_file(shipped_model, fresh_export):
    from talkinghead_studio.inference.sampling import COMPANION_OUTPUTS
    from talkinghead_studio.warpgen import samples

    for size, name in ((256, "astronaut"), (512, "hopper")):
        crop, lm = samples.portrait(name, size)
        for case in ("neutral", "all"):
            feeds = samples.feeds(crop, lm, samples.reference_cases(lm)[case])
            for fresh, shipped in zip(run(fresh_export, feeds), run(shipped_model, feeds)):
                assert np.abs(fresh - shipped).max() < 1e-5, (size, name, case)
            # ... and so is its sampling companion (every output; NaN marks "keep the
            # upsampled value" in refine_map, in both or neither)
            fresh = run_companion(fresh_export, feeds)
            shipped = run_companion(shipped_model, feeds)
            for label, a, b in zip(COMPANION_OUTPUTS, fresh, shipped):
                assert a.shape == b.shape, (label, size, name, case)
                assert np.array_equal(np.isnan(a), np.isnan(b)), label
                assert np.abs(np.nan_to_num(a) - np.nan_to_num(b)).max() < 1e-4, label


def test_onnx_matches_torch(fresh_export):
    """The exported graph computes what the torch source computes (float rounding may
    flip a pixel sitting exactly on a depth tie or on the line between the two jaws)."""
    from talkinghead_studio.warpgen import samples
    from talkinghead_studio.warpgen.export import INPUTS
    from talkinghead_studio.warpgen.model import MeshWarpGenerator

    model = MeshWarpGenerator().eval()
    crop, lm = samples.portrait("astronaut", 256)
    feeds = samples.feeds(crop, lm, samples.reference_cases(lm)["all"])
    with torch.no_grad():
        expected = model(*(torch.from_numpy(feeds[k]) for k in INPUTS))
    for got, want in zip(run(fresh_export, feeds), expected):
        diff = np.abs(got - want.numpy())
        assert diff.mean() < 1e-4 and np.percentile(diff, 99.9) < 2 / 255
