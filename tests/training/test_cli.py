"""`talkinghead-studio train ...`: the hook, the messages, and the four stages end to end."""
from __future__ import annotations

import subprocess
import sys

import pytest

from talkinghead_studio.cli import main

from .synthetic import build_cache


def test_the_cli_does_not_import_torch_until_a_training_stage_runs():
    code = ("import sys, talkinghead_studio.cli as c; c.build_parser(); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(autouse=True)
def python_stderr(monkeypatch):
    """Keep the CLI from moving sys.stderr onto a new descriptor, so capsys sees it."""
    monkeypatch.setenv("TALKINGHEAD_STUDIO_DEBUG", "1")


def test_without_torch_train_says_how_to_install_the_extra(tmp_path):
    code = ("import sys; sys.modules['torch'] = None; "  # as if torch were not installed
            "from talkinghead_studio.cli import main; "
            f"sys.exit(main(['train', 'meta', '--cache', {str(tmp_path)!r}, '--run-dir', 'r']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert 'pip install -e ".[train]"' in lines[0] and "torch" in lines[0]


def test_no_videos_found_is_a_clear_error(capsys, tmp_path):
    code = main(["train", "preprocess", str(tmp_path), "--cache", str(tmp_path / "c")])
    assert code == 2 and "No videos found" in capsys.readouterr().err


def test_meta_finetune_export_chain(tmp_path, capsys, astronaut_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from talkinghead_studio.inference.session import OnnxGenerator, SessionOptions

    torch.set_num_threads(1)
    cache = build_cache(tmp_path / "cache", videos=2, frames=4, resolution=32)
    run = tmp_path / "run"
    assert main(["train", "meta", "--cache", str(cache.cache_dir), "--run-dir", str(run),
                 "--resolution", "32", "--channels", "8", "--max-channels", "16",
                 "--embed-dim", "16", "--res-blocks", "1",
                 "--k", "2", "--batch-size", "2", "--steps", "2", "--workers", "0",
                 "--device", "cpu"]) == 0
    assert main(["train", "meta", "--cache", str(cache.cache_dir), "--run-dir", str(run),
                 "--resolution", "32", "--steps", "3", "--workers", "0"]) == 2
    assert "--resume" in capsys.readouterr().err
    person = tmp_path / "astro.pt"
    assert main(["train", "finetune", str(run / "latest.pt"), str(astronaut_path),
                 "--out", str(person), "--steps", "2", "--device", "cpu"]) == 0
    onnx_path = tmp_path / "astro.onnx"
    assert main(["train", "export", str(person), "--out", str(onnx_path)]) == 0
    out = capsys.readouterr().out
    assert "contract check passed" in out and "pixel-pyramid" in out
    model = OnnxGenerator(onnx_path, SessionOptions(provider="cpu"))
    assert model.info.name == "astro" and model.info.resolutions == (32,)


def test_out_of_gpu_memory_names_what_to_lower(monkeypatch, capsys, tmp_path):
    torch = pytest.importorskip("torch")
    from talkinghead_studio.training import meta

    def exhausted(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(meta, "run_meta", exhausted)
    code = main(["train", "meta", "--cache", str(tmp_path), "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "Out of GPU memory" in err and "--batch-size" in err
