"""The generator contract: what an ONNX generator must look like to be loaded.

Full text with examples: models/README.md. In short, tensors are named from a fixed
vocabulary and read/fed by name, never by position:

inputs
  source_image       1x3xHxW float32, RGB in [0,1]: the portrait's square face crop.
  source_landmarks   1xNx3 float32: the portrait's landmarks in that crop.
  driving_landmarks  1xNx3 float32: the target landmarks (already retargeted to the portrait).
  source_matte       (optional) 1x1xHxW float32 in [0,1]: person matte of the crop.
  background_image   (optional) 1x3xHxW float32 in [0,1]: the crop with the person removed.
outputs
  image              1x3xHxW float32, RGB in [0,1].
  mask               (optional) 1x1xHxW float32 in [0,1]: foreground alpha (PNG export).

Landmark units ("crop-normalised"): x and y in [0,1] across the crop (x right, y down);
z in units of the crop width, negative towards the camera (MediaPipe's convention).

metadata_props
  ths.contract_version  "1"
  ths.resolutions       comma list of square sizes the model accepts, e.g. "256,512"
  ths.landmark_layout   "mediapipe-478"
  ths.name              short human name, shown in the UI and written into export metadata
  ths.kind              free text, e.g. "mesh-warp" or "neural-fewshot"
  ths.sampling_companion  (optional) file name of a sampling companion next to the model:
                        the same warp minus its full-resolution sampling, which the app
                        then does with OpenCV on the CPU (inference/sampling.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from talkinghead_studio.errors import GeneratorContractError

CONTRACT_VERSION = "1"
LANDMARK_LAYOUT = "mediapipe-478"
NUM_LANDMARKS = 478

REQUIRED_INPUTS = ("source_image", "source_landmarks", "driving_landmarks")
OPTIONAL_INPUTS = ("source_matte", "background_image")
REQUIRED_OUTPUTS = ("image",)
OPTIONAL_OUTPUTS = ("mask",)

META_VERSION = "ths.contract_version"
META_RESOLUTIONS = "ths.resolutions"
META_LAYOUT = "ths.landmark_layout"
META_NAME = "ths.name"
META_KIND = "ths.kind"
META_COMPANION = "ths.sampling_companion"

# Expected rank and, where fixed, dims (None = any/dynamic; "R" = the resolution).
_SHAPES = {
    "source_image": (1, 3, "R", "R"),
    "source_landmarks": (1, NUM_LANDMARKS, 3),
    "driving_landmarks": (1, NUM_LANDMARKS, 3),
    "source_matte": (1, 1, "R", "R"),
    "background_image": (1, 3, "R", "R"),
    "image": (1, 3, "R", "R"),
    "mask": (1, 1, "R", "R"),
}


@dataclass(frozen=True)
class TensorSpec:
    """Name, element type (as onnxruntime spells it, e.g. 'tensor(float)') and shape.

    Shape entries are ints for fixed dims and str/None for symbolic or unknown ones.
    """

    name: str
    type: str
    shape: tuple


def tensor_specs(nodes) -> list[TensorSpec]:
    """onnxruntime NodeArg list -> TensorSpec list (shape dims: int or symbolic str)."""
    return [TensorSpec(n.name, n.type, tuple(n.shape)) for n in nodes]


@dataclass(frozen=True)
class GeneratorInfo:
    """What the contract check learned about a model."""

    name: str
    kind: str
    resolutions: tuple[int, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    metadata: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def has_mask(self) -> bool:
        return "mask" in self.outputs

    def supports(self, resolution: int) -> bool:
        return resolution in self.resolutions


def _parse_resolutions(text: str, model_label: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        values = ()
    if not values or any(v < 32 or v > 4096 or v % 32 for v in values):
        raise GeneratorContractError(
            f"{model_label}: metadata '{META_RESOLUTIONS}' must list square sizes that are "
            f"multiples of 32, like '256,512'; found '{text}'."
        )
    return values


def _check_shape(spec: TensorSpec, resolutions: tuple[int, ...], model_label: str) -> None:
    expected = _SHAPES[spec.name]
    if len(spec.shape) != len(expected):
        raise GeneratorContractError(
            f"{model_label}: tensor '{spec.name}' has rank {len(spec.shape)}, "
            f"the contract needs rank {len(expected)} (shape {expected})."
        )
    for axis, (got, want) in enumerate(zip(spec.shape, expected)):
        if not isinstance(got, int):
            continue  # dynamic axis: anything the contract allows may be fed
        if want == "R":
            if len(resolutions) == 1 and got != resolutions[0]:
                raise GeneratorContractError(
                    f"{model_label}: tensor '{spec.name}' axis {axis} is {got}, but the "
                    f"model's metadata says resolution {resolutions[0]}."
                )
            if len(resolutions) > 1:
                raise GeneratorContractError(
                    f"{model_label}: it claims several resolutions {resolutions} but "
                    f"'{spec.name}' has a fixed size {got}; make the spatial axes dynamic."
                )
        elif got != want:
            raise GeneratorContractError(
                f"{model_label}: tensor '{spec.name}' axis {axis} is {got}; the contract "
                f"needs {want} (shape {expected})."
            )
    if spec.type != "tensor(float)":
        raise GeneratorContractError(
            f"{model_label}: tensor '{spec.name}' is {spec.type}; the contract needs float32."
        )


def check_generator(
    inputs: list[TensorSpec],
    outputs: list[TensorSpec],
    metadata: dict[str, str],
    model_label: str = "model",
) -> GeneratorInfo:
    """Check a model's signature and metadata against the contract.

    Raises GeneratorContractError naming the first thing that does not fit.
    """
    version = metadata.get(META_VERSION)
    if version is None:
        raise GeneratorContractError(
            f"{model_label}: no '{META_VERSION}' in the ONNX metadata, so it is not a "
            f"Talking-Head Studio generator (see models/README.md)."
        )
    if version != CONTRACT_VERSION:
        raise GeneratorContractError(
            f"{model_label}: generator contract version {version} is not supported; this "
            f"version of the app reads version {CONTRACT_VERSION}."
        )
    layout = metadata.get(META_LAYOUT)
    if layout != LANDMARK_LAYOUT:
        raise GeneratorContractError(
            f"{model_label}: landmark layout '{layout}' is not supported; "
            f"expected '{LANDMARK_LAYOUT}'."
        )
    resolutions = _parse_resolutions(metadata.get(META_RESOLUTIONS, ""), model_label)

    input_names = [spec.name for spec in inputs]
    output_names = [spec.name for spec in outputs]
    for name in REQUIRED_INPUTS:
        if name not in input_names:
            raise GeneratorContractError(
                f"{model_label}: missing input '{name}'. Inputs found: {input_names}."
            )
    for name in input_names:
        if name not in REQUIRED_INPUTS + OPTIONAL_INPUTS:
            raise GeneratorContractError(
                f"{model_label}: unknown input '{name}'; the contract allows "
                f"{list(REQUIRED_INPUTS + OPTIONAL_INPUTS)}."
            )
    for name in REQUIRED_OUTPUTS:
        if name not in output_names:
            raise GeneratorContractError(
                f"{model_label}: missing output '{name}'. Outputs found: {output_names}."
            )
    for spec in inputs:
        _check_shape(spec, resolutions, model_label)
    for spec in outputs:
        if spec.name in REQUIRED_OUTPUTS + OPTIONAL_OUTPUTS:
            _check_shape(spec, resolutions, model_label)

    return GeneratorInfo(
        name=metadata.get(META_NAME, model_label),
        kind=metadata.get(META_KIND, "unknown"),
        resolutions=resolutions,
        inputs=tuple(input_names),
        outputs=tuple(n for n in output_names if n in REQUIRED_OUTPUTS + OPTIONAL_OUTPUTS),
        metadata=dict(metadata),
    )


def contract_metadata(name: str, kind: str, resolutions: tuple[int, ...]) -> dict[str, str]:
    """The metadata_props an exporter writes into a generator (torch side uses this too)."""
    return {
        META_VERSION: CONTRACT_VERSION,
        META_LAYOUT: LANDMARK_LAYOUT,
        META_RESOLUTIONS: ",".join(str(r) for r in sorted(resolutions)),
        META_NAME: name,
        META_KIND: kind,
    }
