"""The one place that opens ONNX sessions, picks providers and checks the contract.

Providers: the user's request, filtered by what this onnxruntime build offers, CPU last.
After the session opens we read back ``session.get_providers()`` and report what is
*really* active: onnxruntime silently drops CUDA when its libraries fail to load, and
the user must see that rather than believe they run on the GPU.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from talkinghead_studio.errors import GeneratorContractError, ProviderError
from talkinghead_studio.inference import sampling
from talkinghead_studio.inference.contract import (
    META_COMPANION,
    OPTIONAL_INPUTS,
    TensorSpec,
    check_generator,
    tensor_specs,
)

log = logging.getLogger(__name__)

ProviderChoice = Literal["auto", "cpu", "cuda"]

_PROVIDER_NAMES = {
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_SHORT_NAMES = {v: k.upper() for k, v in _PROVIDER_NAMES.items()}


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _nvidia_driver_present() -> bool:
    """True when the NVIDIA driver library loads. onnxruntime-gpu lists its CUDA provider
    even on machines without a GPU, then fails noisily when a session asks for it."""
    import ctypes

    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def cuda_available() -> bool:
    """CUDA provider offered by onnxruntime *and* an NVIDIA driver present."""
    return _PROVIDER_NAMES["cuda"] in available_providers() and _nvidia_driver_present()


def resolve_providers(choice: ProviderChoice) -> list[str]:
    """Ordered provider list for a user choice; CPU always last.

    "auto" uses CUDA when onnxruntime offers it; "cuda" insists and raises
    ProviderError when it is not offered, rather than quietly running on the CPU.
    """
    if choice == "cpu":
        return ["CPUExecutionProvider"]
    cuda = cuda_available()
    if choice == "cuda":
        if not cuda:
            raise ProviderError(
                "CUDA was requested but this onnxruntime has no CUDA provider (no NVIDIA "
                "GPU or CUDA libraries found). Choose the CPU provider, or install "
                "onnxruntime-gpu with a matching CUDA runtime."
            )
        return [_PROVIDER_NAMES["cuda"], "CPUExecutionProvider"]
    if choice == "auto":
        if cuda:
            return [_PROVIDER_NAMES["cuda"], "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]
    raise ProviderError(f"Unknown provider '{choice}'; use auto, cpu or cuda.")


def short_provider_name(provider: str) -> str:
    """'CUDAExecutionProvider' -> 'CUDA', for status bars and logs."""
    return _SHORT_NAMES.get(provider, provider.replace("ExecutionProvider", ""))


def default_thread_count() -> int:
    """Threads inside one generator run. One: the render runs several frames at once
    instead (measured on 2 cores, 512 px: 2 threads x 2 frames 31.2 fps, 1 x 2 33.7 fps;
    a single run gains only ~7 % from a second thread, the graph is many small ops)."""
    return 1


@dataclass(frozen=True)
class SessionOptions:
    """How to open a generator session."""

    provider: ProviderChoice = "auto"
    intra_op_threads: int = 0  # 0 = default_thread_count()
    # Use the model's sampling companion (inference/sampling.py) when running on the CPU.
    # Off only to compare against the main file's own `image` output.
    use_companion: bool = True


_ONNX_TYPES = {1: "float", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "double"}


def read_signature(path: Path) -> tuple[list[TensorSpec], list[TensorSpec], dict[str, str]]:
    """(inputs, outputs, metadata) of an ONNX file, read without opening a session.

    Opening an onnxruntime session for a graph of a few thousand small nodes takes ~0.4 s
    on this class of CPU; reading the header takes ~10 ms. Raises whatever the onnx
    parser raises for a file that is not a model."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}

    def specs(values) -> list[TensorSpec]:
        out = []
        for value in values:
            if value.name in initializers:
                continue
            tensor = value.type.tensor_type
            shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                          for d in tensor.shape.dim)
            out.append(TensorSpec(value.name,
                                  f"tensor({_ONNX_TYPES.get(tensor.elem_type, 'other')})",
                                  shape))
        return out

    return specs(model.graph.input), specs(model.graph.output), {
        p.key: p.value for p in model.metadata_props}


class OnnxGenerator:
    """A checked generator model with one verb: :meth:`render` (or :meth:`animate` for
    the raw contract outputs).

    Inputs are fed and outputs read by name (see inference/contract.py). On the CPU, a
    model with a sampling companion (inference/sampling.py) renders through the
    companion, and the main file's own session opens only if :meth:`animate` is called.
    """

    def __init__(self, path: str | os.PathLike, options: SessionOptions = SessionOptions()):
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise GeneratorContractError(
                f"Generator model not found: {self.path}. Check the path, or reinstall to "
                f"restore the shipped models/ folder."
            )
        requested = resolve_providers(options.provider)
        # onnxruntime's own logger prints CUDA load failures as raw errors on stderr;
        # we check and report the active provider ourselves instead.
        ort.set_default_logger_severity(4)
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = options.intra_op_threads or default_thread_count()
        session_options.log_severity_level = 3
        # Our render stages already keep both cores busy; spinning worker threads only
        # burn CPU the other stages need (measured: 2x CPU per frame, no speed gain).
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._ort, self._session_options, self._requested = ort, session_options, requested
        self._session = None
        self._companion: sampling.CompanionRunner | None = None
        cpu_only = requested == [_PROVIDER_NAMES["cpu"]]
        if options.use_companion and cpu_only:
            # On a GPU the in-graph sampling is cheap and copying fields back would cost
            # more than it saves; the companion pays off on the CPU only.
            try:
                inputs, outputs, meta = read_signature(self.path)
            except Exception as exc:  # the parser raises several unrelated types
                raise self._not_a_model(exc) from exc
            self.info = check_generator(inputs, outputs, meta, model_label=self.path.name)
            self._open_companion(meta)
        if self._companion is None:
            self._open_session()
            self.info = check_generator(
                tensor_specs(self._session.get_inputs()),
                tensor_specs(self._session.get_outputs()),
                dict(self._session.get_modelmeta().custom_metadata_map),
                model_label=self.path.name,
            )
            self.active_providers = list(self._session.get_providers())
        else:
            self.active_providers = list(requested)
        if options.provider == "cuda" and self.active_providers[0] != _PROVIDER_NAMES["cuda"]:
            raise ProviderError(
                "CUDA was requested and offered, but onnxruntime could not start it "
                "(CUDA/cuDNN libraries missing or mismatched). Use the CPU provider."
            )
        if self.active_providers != requested:
            log.warning("requested providers %s, active %s", requested, self.active_providers)

    def _not_a_model(self, exc: Exception) -> GeneratorContractError:
        return GeneratorContractError(
            f"Could not load generator {self.path.name}: it is not a valid ONNX model "
            f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}). Re-export "
            f"it or pick another model.")

    def _open_session(self) -> None:
        try:
            self._session = self._ort.InferenceSession(
                str(self.path), sess_options=self._session_options, providers=self._requested)
        except Exception as exc:  # onnxruntime raises several unrelated types here
            raise self._not_a_model(exc) from exc

    def _open_companion(self, meta: dict[str, str]) -> None:
        """Open the sampling companion the metadata names (and its portrait stage), if
        they are there and fit.

        A missing or broken companion only costs speed: the main file still renders, so
        it is logged, not raised."""
        name = meta.get(META_COMPANION)
        if not name:
            return
        path = self.path.with_name(Path(name).name)

        def open_cpu_session(file: str):
            return self._ort.InferenceSession(file, sess_options=self._session_options,
                                              providers=[_PROVIDER_NAMES["cpu"]])

        try:
            self._companion = sampling.CompanionRunner(path, open_cpu_session, dict(meta))
        except Exception as exc:  # onnxruntime and the checks raise several types
            log.warning("sampling companion %s not used (%s); rendering with %s alone, "
                        "which is slower on the CPU", path.name,
                        (str(exc).splitlines() or [""])[0][:200], self.path.name)

    @property
    def uses_companion(self) -> bool:
        """True when frames are finished by OpenCV from the sampling companion."""
        return self._companion is not None

    @property
    def active_provider(self) -> str:
        """Short name of the provider that really runs the model: 'CPU' or 'CUDA'."""
        return short_provider_name(self.active_providers[0])

    @property
    def optional_inputs(self) -> tuple[str, ...]:
        return tuple(n for n in self.info.inputs if n in OPTIONAL_INPUTS)

    def animate(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the main file once. ``feeds`` maps contract input names to arrays (extra
        names ignored).

        Returns {'image': 1x3xRxR float32, 'mask': 1x1xRxR float32 (if the model has it)}.
        """
        missing = [n for n in self.info.inputs if n not in feeds]
        if missing:
            raise GeneratorContractError(
                f"{self.path.name} needs inputs {missing} that were not provided."
            )
        if self._session is None:
            self._open_session()
        model_feeds = {n: feeds[n] for n in self.info.inputs}
        values = self._session.run(list(self.info.outputs), model_feeds)
        return dict(zip(self.info.outputs, values))

    def render(self, feeds: dict[str, np.ndarray], portrait: np.ndarray,
               plate: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Run once and return (RxRx3 uint8 RGB, RxR float32 mask or None).

        portrait / plate: the uint8 RxRx3 images behind ``source_image`` and
        ``background_image`` in ``feeds`` (plate None: the portrait). With a sampling
        companion the frame is finished by OpenCV; otherwise ``image`` is converted."""
        if self._companion is None:
            outputs = self.animate(feeds)
            image = np.clip(outputs["image"][0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255)
            mask = outputs.get("mask")
            return image.astype(np.uint8), (None if mask is None else mask[0, 0])
        return sampling.compose(self._companion.run(feeds), portrait, plate,
                                self._companion.coarse)

    @property
    def sampling_coarse(self) -> int | None:
        """The companion's cell size in crop px, or None without a companion."""
        return None if self._companion is None else self._companion.coarse

    def sampling_outputs(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The sampling companion's outputs for ``feeds`` (inference/sampling.py), to be
        finished by a ``RegionCompositor``; only when :attr:`uses_companion`."""
        if self._companion is None:
            raise RuntimeError(f"{self.path.name} is not running through a companion")
        return self._companion.run(feeds)


#: The generator the app ships, in models/.
DEFAULT_MODEL = "mesh_warp.onnx"


def open_generator(model: str | os.PathLike | None, provider: ProviderChoice) -> OnnxGenerator:
    """The generator a render asks for: the file ``model``, or the shipped one.

    Light to import (no core modules): the CLI calls it on a thread while it imports
    the rest (see cli.cmd_render)."""
    from talkinghead_studio.paths import model_path

    return OnnxGenerator(model or model_path(DEFAULT_MODEL), SessionOptions(provider=provider))
