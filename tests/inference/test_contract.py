"""The generator contract check names exactly what does not fit."""
from __future__ import annotations

import pytest

from talkinghead_studio.errors import GeneratorContractError, ProviderError
from talkinghead_studio.inference import session as session_module
from talkinghead_studio.inference.contract import contract_metadata
from talkinghead_studio.inference.session import OnnxGenerator, resolve_providers
from tests.fixtures.onnx_models import build_identity_generator


def test_identity_model_passes_and_reports_cpu(identity_model):
    generator = OnnxGenerator(identity_model)
    assert generator.info.resolutions == (256, 512)
    assert generator.info.has_mask
    assert generator.active_provider in ("CPU", "CUDA")


def test_missing_metadata_is_named(tmp_path):
    path = build_identity_generator(tmp_path / "m.onnx", metadata={})
    with pytest.raises(GeneratorContractError, match="ths.contract_version"):
        OnnxGenerator(path)


def test_wrong_input_name_is_named(tmp_path):
    path = build_identity_generator(
        tmp_path / "m.onnx", input_names=["image_in", "source_landmarks", "driving_landmarks"])
    with pytest.raises(GeneratorContractError, match="missing input 'source_image'"):
        OnnxGenerator(path)


def test_fixed_size_must_match_declared_resolution(tmp_path):
    meta = contract_metadata("x", "test", (512,))
    path = build_identity_generator(tmp_path / "m.onnx", resolutions=(256,), metadata=meta,
                                    dynamic=False)
    with pytest.raises(GeneratorContractError, match="resolution 512"):
        OnnxGenerator(path)


def test_future_contract_version_is_refused(tmp_path):
    meta = dict(contract_metadata("x", "test", (256,)), **{"ths.contract_version": "9"})
    path = build_identity_generator(tmp_path / "m.onnx", metadata=meta)
    with pytest.raises(GeneratorContractError, match="version 9"):
        OnnxGenerator(path)


def test_corrupt_model_file_says_so(tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x01garbage" * 50)
    with pytest.raises(GeneratorContractError, match="not a valid ONNX model"):
        OnnxGenerator(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(GeneratorContractError, match="not found"):
        OnnxGenerator(tmp_path / "nope.onnx")


def test_cuda_request_without_cuda_is_an_error_not_a_silent_fallback(monkeypatch):
    monkeypatch.setattr(session_module, "cuda_available", lambda: False)
    with pytest.raises(ProviderError, match="CUDA was requested"):
        resolve_providers("cuda")
    assert resolve_providers("auto") == ["CPUExecutionProvider"]


def test_auto_prefers_cuda_when_usable(monkeypatch):
    monkeypatch.setattr(session_module, "cuda_available", lambda: True)
    assert resolve_providers("auto")[0] == "CUDAExecutionProvider"
    assert resolve_providers("auto")[-1] == "CPUExecutionProvider"
