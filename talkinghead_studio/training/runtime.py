"""Devices, mixed precision, torch.distributed, checkpoint files and run logs.

Multi-GPU runs use torchrun and DistributedDataParallel as they are; this module only
reads the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK).
"""
from __future__ import annotations

import contextlib
import csv
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from talkinghead_studio.training.errors import TrainingError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: rank 0 of 1 for a plain run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(choice: str = "auto", local_rank: int = 0) -> torch.device:
    """'auto' -> this process's GPU when there is one, else the CPU."""
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for, but torch sees no CUDA GPU. "
                            "Install a CUDA build of torch or use --device cpu.")
    return torch.device("cuda", local_rank)


def init_distributed(device_choice: str = "auto") -> DistInfo:
    """Join the torchrun job if there is one (NCCL on GPUs, Gloo on the CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_choice, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=device)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool, info: DistInfo) -> bool:
    """True on every rank when ``flag`` is true on any (e.g. 'time is up')."""
    if info.world_size == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def amp_dtype(choice: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a user choice, or None for full float32."""
    if choice == "off" or device.type != "cuda":
        if choice in ("bf16", "fp16") and device.type != "cuda":
            raise TrainingError(f"--amp {choice} needs a CUDA GPU; use --amp off on the CPU.")
        return None
    if choice == "fp16":
        return torch.float16
    if choice == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16  # "auto" on GPUs without bf16 (pre-Ampere)


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def atomic_save(state: dict, path: Path) -> None:
    """torch.save to a temporary sibling, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: str | os.PathLike, expected_format: str, what: str) -> dict:
    """Read a checkpoint written by this package; TrainingError names what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{what} not found: {path}.")
    try:
        # weights_only: a checkpoint from elsewhere cannot run code when it is read
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors all mean "not readable"
        raise TrainingError(f"Could not read {what} {path.name} ({type(exc).__name__}); "
                            f"the file may be damaged.") from exc
    found = state.get("format") if isinstance(state, dict) else None
    if found != expected_format:
        raise TrainingError(f"{path.name} is not a {what} (format {found!r}, expected "
                            f"{expected_format!r}).")
    return state


class RunLog:
    """Scalars per step to log.csv, and to TensorBoard when asked and installed."""

    def __init__(self, run_dir: Path, tensorboard: bool = False) -> None:
        self.path = run_dir / "log.csv"
        self._columns: list[str] | None = None
        if self.path.exists():
            with open(self.path, newline="") as handle:
                self._columns = next(csv.reader(handle), None)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise TrainingError("--tensorboard needs the tensorboard package: "
                                    "pip install tensorboard (or drop the flag; "
                                    "log.csv is always written).") from exc
            self._tb = SummaryWriter(str(run_dir / "tensorboard"))

    def write(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, **values}
        if self._columns is None:
            self._columns = list(row)
            with open(self.path, "w", newline="") as handle:
                csv.writer(handle).writerow(self._columns)
        with open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([_fmt(row.get(c, "")) for c in self._columns])
        if self._tb is not None:
            for key, value in values.items():
                self._tb.add_scalar(key, value, step)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _fmt(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
