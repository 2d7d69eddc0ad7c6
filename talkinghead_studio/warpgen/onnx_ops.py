"""Torch functions that export to one specific ONNX node.

The TorchScript exporter wraps ``scatter_reduce`` in If nodes that copy the whole
buffer; this exports straight to ScatterElements(reduction="min").
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor


class _ScatterMin(torch.autograd.Function):
    @staticmethod
    def forward(ctx, base: Tensor, index: Tensor, values: Tensor) -> Tensor:
        return base.scatter_reduce(0, index, values, reduce="amin", include_self=True)

    @staticmethod
    def symbolic(g, base, index, values):
        return g.op("ScatterElements", base, index, values, axis_i=0, reduction_s="min")


def scatter_min(base: Tensor, index: Tensor, values: Tensor) -> Tensor:
    """base (1-D) with base[index[i]] = min(base[index[i]], values[i]) for every i."""
    return _ScatterMin.apply(base, index, values)
