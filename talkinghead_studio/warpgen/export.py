"""Export :class:`MeshWarpGenerator` to an ONNX file that follows the generator contract.

Used by models/build_mesh_warp.py (which ships the file) and by the tests (which export
afresh and compare). Torch-only; the app never imports this.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch

from talkinghead_studio.inference.contract import META_COMPANION, contract_metadata
from talkinghead_studio.inference.sampling import (COMPANION_INPUTS, COMPANION_OUTPUTS,
                                                   STAGE_INPUTS, companion_metadata,
                                                   stage_metadata)
from talkinghead_studio.warpgen.model import COARSE, MeshWarpGenerator, SamplingFields

NAME = "Mesh warp"
KIND = "mesh-warp"
RESOLUTIONS = (256, 512)
OPSET = 18
INPUTS = ("source_image", "source_landmarks", "driving_landmarks", "source_matte",
          "background_image")
OUTPUTS = ("image", "mask")
COMPANION_SUFFIX = ".sampling.onnx"
STAGE_SUFFIX = ".portrait.onnx"
STATE_PREFIX = "portrait_state_"


def companion_path(path: str | Path) -> Path:
    """Where the sampling companion of the generator at ``path`` lives."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".onnx") + COMPANION_SUFFIX)


def stage_path(path: str | Path) -> Path:
    """Where the companion's portrait stage of the generator at ``path`` lives."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".onnx") + STAGE_SUFFIX)


def example_inputs(size: int = 256) -> tuple[torch.Tensor, ...]:
    """Deterministic inputs for tracing: a random crop and a seeded point cloud in the
    landmark layout. The values only steer tracing (the graph has no data-dependent
    Python branches; data-dependent sizes stay dynamic), so any points with the right
    shapes do; tests check the exported file on real faces.
    """
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, size, size, generator=gen)
    angle = torch.linspace(0, 6.283, 478)
    lm = torch.stack([0.5 + 0.18 * torch.cos(angle * 7.0) * torch.linspace(0.2, 1.0, 478),
                      0.55 + 0.22 * torch.sin(angle * 5.0) * torch.linspace(0.2, 1.0, 478),
                      0.02 * torch.sin(angle)], -1)[None]
    matte = torch.ones(1, 1, size, size)
    return image, lm, lm.clone(), matte, image.clone()


def export_onnx(path: str | Path) -> Path:
    """Write the generator to ``path`` with dynamic spatial axes and contract metadata,
    and its sampling companion and the companion's portrait stage beside it (see
    :func:`companion_path`, :func:`stage_path`)."""
    path = Path(path)
    companion = companion_path(path)
    stage = stage_path(path)
    spatial = {2: "R", 3: "R"}
    _export(MeshWarpGenerator(), example_inputs(), path, INPUTS, OUTPUTS,
            {"source_image": spatial, "source_matte": spatial,
             "background_image": spatial, "image": spatial, "mask": spatial},
            {**contract_metadata(NAME, KIND, RESOLUTIONS), META_COMPANION: companion.name},
            "Talking-Head Studio mesh-warp generator: landmark-driven dense warp with "
            "z-buffered face mesh, mouth interior and eyelid handling. Built by "
            "models/build_mesh_warp.py; no learned weights.")
    _export(SamplingFields(), example_inputs()[:len(COMPANION_INPUTS)], companion,
            COMPANION_INPUTS, COMPANION_OUTPUTS,
            {"source_image": spatial, "source_matte": spatial,
             "sampling_fields": {1: "c", 2: "c"}, "refine_index": {0: "N"},
             "refine_map": {0: "N"}, "inner_layer": {0: "P"}},
            companion_metadata(NAME, RESOLUTIONS, COARSE, stage.name),
            "Sampling companion of the Talking-Head Studio mesh-warp generator: the same "
            "warp up to its full-resolution sampling, which the app does with OpenCV.")
    _split_portrait_stage(companion, stage)
    return path


def _split_portrait_stage(companion: Path, stage: Path) -> None:
    """Move the companion's portrait-only part into its own file.

    Every node whose inputs all derive from the portrait (STAGE_INPUTS) and constants
    goes to ``stage``; the tensors the rest of the graph reads from that part become the
    stage's outputs and the companion's inputs, named STATE_PREFIX + number. The app
    runs the stage once per portrait (inference/sampling.py CompanionRunner). The split
    is checked: both files together give the companion's outputs exactly."""
    import onnx
    from onnx import helper

    whole = onnx.load(str(companion))
    graph = whole.graph
    constants = {t.name for t in graph.initializer}
    portrait_only = constants | {i.name for i in graph.input if i.name in STAGE_INPUTS} | {""}
    stage_nodes, frame_nodes = [], []
    for node in graph.node:     # ONNX graphs are stored in topological order
        if all(name in portrait_only for name in node.input):
            stage_nodes.append(node)
            portrait_only.update(node.output)
        else:
            frame_nodes.append(node)
    inputs = {i.name for i in graph.input}
    frontier: list[str] = []
    for node in frame_nodes:
        for name in node.input:
            if (name and name in portrait_only and name not in constants and name not in inputs
                    and name not in frontier):
                frontier.append(name)
    if any(o.name in portrait_only for o in graph.output):
        raise RuntimeError("a companion output depends on the portrait alone")
    rename = {old: f"{STATE_PREFIX}{k:02d}" for k, old in enumerate(frontier)}
    for node in graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    types = {v.name: v for v in graph.value_info}
    states = []
    for old, new in rename.items():
        value = onnx.ValueInfoProto()
        value.CopyFrom(types[old])
        value.name = new
        states.append(value)

    def part(nodes, part_inputs, part_outputs, metadata, doc):
        used = {n for node in nodes for n in node.input}
        produced = {n for node in nodes for n in node.output}
        g = helper.make_graph(
            nodes, graph.name, part_inputs, part_outputs,
            [t for t in graph.initializer if t.name in used],
            value_info=[v for v in graph.value_info if v.name in produced and
                        v.name not in {o.name for o in part_outputs}])
        model = helper.make_model(g, opset_imports=whole.opset_import,
                                  ir_version=whole.ir_version, producer_name=whole.producer_name)
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        model.doc_string = doc
        onnx.checker.check_model(model)
        return model

    frame_used = {n for node in frame_nodes for n in node.input}
    stage_used = {n for node in stage_nodes for n in node.input}
    meta = {p.key: p.value for p in whole.metadata_props}
    frame = part(frame_nodes,
                 [i for i in graph.input if i.name in frame_used] + states,
                 list(graph.output), meta, whole.doc_string)
    portrait = part(stage_nodes, [i for i in graph.input if i.name in stage_used], states,
                    stage_metadata(NAME, RESOLUTIONS),
                    "Portrait stage of the Talking-Head Studio mesh-warp generator's sampling "
                    "companion: the part of the warp that depends on the portrait alone, run "
                    "once per portrait.")
    _check_split(whole, portrait, frame)
    onnx.save(portrait, str(stage))
    onnx.save(frame, str(companion))


def _check_split(whole, portrait, frame) -> None:
    """Both parts together must give the whole companion's outputs, bit for bit."""
    import numpy as np
    import onnxruntime as ort

    def open_(model):
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    image, lm, _, matte, _ = example_inputs()
    rng = np.random.default_rng(0)
    driving = lm.numpy() + rng.normal(0.0, 0.002, lm.shape).astype(np.float32)
    feeds = {"source_image": image.numpy(), "source_landmarks": lm.numpy(),
             "driving_landmarks": driving, "source_matte": matte.numpy()}
    want = open_(whole).run(list(COMPANION_OUTPUTS), feeds)
    stage_session, frame_session = open_(portrait), open_(frame)
    stage_names = [i.name for i in stage_session.get_inputs()]
    state = dict(zip([o.name for o in stage_session.get_outputs()],
                     stage_session.run(None, {k: feeds[k] for k in stage_names})))
    frame_feeds = {i.name: state[i.name] if i.name in state else feeds[i.name]
                   for i in frame_session.get_inputs()}
    got = frame_session.run(list(COMPANION_OUTPUTS), frame_feeds)
    for name, a, b in zip(COMPANION_OUTPUTS, want, got):
        if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
            raise RuntimeError(f"the split companion's {name} differs from the whole one's")


def _export(model: torch.nn.Module, example: tuple, path: Path, inputs: tuple,
            outputs: tuple, dynamic: dict, metadata: dict, doc: str) -> None:
    import onnx

    with warnings.catch_warnings():
        # The TorchScript exporter warns about its own deprecation and about traced
        # shape arithmetic; the graph is checked numerically at both sizes instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), example, str(path), input_names=list(inputs),
                          output_names=list(outputs), dynamic_axes=dynamic,
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)
    proto = onnx.load(str(path))
    _check_inputs(proto, inputs)
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = doc
    proto = _quick_to_load(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _quick_to_load(proto):
    """The same graph in a form onnxruntime opens about half as fast again.

    Opening a session of this graph took ~1 s on the 2-core target, a fifth of a 9 s
    clip's render. Three load-time jobs are done here once instead: every Constant node
    becomes an initializer; onnxruntime's *basic* graph optimisations (constant folding,
    redundant-node removal: standard ONNX operators only, so the file stays portable)
    are applied and saved; every node's output type and shape is inferred and stored.
    Measured with the app's settings: 1.07 -> 0.61 s for the first two of these, ->
    0.41 s with the third; outputs identical, run time unchanged or a little lower. The
    shapes keep their symbolic sizes (R, c, N, ...), so one file serves every
    resolution. (ONNX's data propagation would save a little more but mis-infers ranks
    in this graph; strict inference without it is exact.)
    """
    import tempfile

    import onnx
    import onnxruntime as ort

    graph = proto.graph
    kept = []
    for node in graph.node:
        if node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
            tensor = node.attribute[0].t
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    with tempfile.TemporaryDirectory() as scratch:
        plain, optimised = Path(scratch) / "plain.onnx", Path(scratch) / "basic.onnx"
        onnx.save(proto, str(plain))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(optimised)
        ort.InferenceSession(str(plain), options, providers=["CPUExecutionProvider"])
        result = onnx.load(str(optimised))
    used = {node.domain for node in result.graph.node}
    if used - {"", "ai.onnx"}:
        raise RuntimeError(f"basic optimisation introduced non-standard operators: {used}")
    # onnxruntime lists every domain it knows; keep the standard one the graph uses.
    standard = [o for o in result.opset_import if o.domain in ("", "ai.onnx")]
    del result.opset_import[:]
    result.opset_import.extend(standard)
    del result.metadata_props[:]
    result.metadata_props.extend(proto.metadata_props)
    result.doc_string = proto.doc_string
    return onnx.shape_inference.infer_shapes(result, check_type=True, strict_mode=True)


def _check_inputs(proto, intended: tuple) -> None:
    """The exporter silently drops unused inputs; the app feeds only declared ones."""
    names = tuple(i.name for i in proto.graph.input)
    if names != intended:
        raise RuntimeError(f"exported inputs {names} differ from the intended {intended}")
