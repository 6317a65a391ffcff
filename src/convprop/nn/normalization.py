"""Normalisation layers: BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm (PyTorch's arguments,
defaults, state dict keys and behaviour), over :mod:`convprop.ops.norm`."""

from __future__ import annotations

import math

import numpy as np

from convprop.nn.module import Module, Parameter
from convprop.ops import norm
from convprop.tensor import Tensor


class BatchNorm2d(Module):
    """``x = gamma (z - mu) / sqrt(sigma^2 + eps) + beta`` per channel.

    In training mu and sigma^2 are the batch's mean and biased variance over every axis but
    the channel axis, and the running statistics are updated,
    ``running = (1 - momentum) running + momentum batch_stat`` with the unbiased batch
    variance (``momentum=None``: the cumulative average, ``1 / num_batches_tracked``). In
    evaluation the running statistics are used (the batch's when
    ``track_running_stats=False``). Parameters ``weight`` (gamma, ones) and ``bias`` (beta,
    zeros) when ``affine``; buffers ``running_mean``, ``running_var``, ``num_batches_tracked``
    when ``track_running_stats``. As ``torch.nn.BatchNorm2d``.

    Shape: ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype=np.float32,
    ) -> None:
        init_batch_norm(self, num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, z: Tensor) -> Tensor:
        check_batch_norm_input(self, z, (4,), "(N, {c}, H, W)")
        return batch_norm_forward(self, z)

    def extra_repr(self) -> str:
        return batch_norm_repr(self)


class BatchNorm1d(Module):
    """:class:`BatchNorm2d` over ``(N, C)`` or ``(N, C, L)`` inputs (statistics over N, or N
    and L), as ``torch.nn.BatchNorm1d``; the same arguments, parameters and buffers.

    Shape: ``(N, C) -> (N, C)`` or ``(N, C, L) -> (N, C, L)``.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype=np.float32,
    ) -> None:
        init_batch_norm(self, num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, z: Tensor) -> Tensor:
        check_batch_norm_input(self, z, (2, 3), "(N, {c}) or (N, {c}, L)")
        return batch_norm_forward(self, z)

    def extra_repr(self) -> str:
        return batch_norm_repr(self)


def init_batch_norm(layer, num_features, eps, momentum, affine, track_running_stats, dtype):
    """The parameters and buffers of BatchNorm1d and BatchNorm2d, PyTorch's names and order."""
    layer.num_features, layer.eps, layer.momentum = num_features, eps, momentum
    layer.affine, layer.track_running_stats = affine, track_running_stats
    layer.weight = layer.bias = None
    if affine:
        layer.weight = Parameter(np.ones(num_features, dtype), dtype=dtype)
        layer.bias = Parameter(np.zeros(num_features, dtype), dtype=dtype)
    tracked = track_running_stats
    layer.register_buffer("running_mean", np.zeros(num_features, dtype) if tracked else None)
    layer.register_buffer("running_var", np.ones(num_features, dtype) if tracked else None)
    layer.register_buffer("num_batches_tracked", np.array(0, np.int64) if tracked else None)


def check_batch_norm_input(layer, z: Tensor, ndims: tuple[int, ...], text: str) -> None:
    if z.ndim not in ndims or z.shape[1] != layer.num_features:
        raise ValueError(
            f"{type(layer).__name__}({layer.num_features}) expects input of shape "
            f"{text.format(c=layer.num_features)}, got {tuple(z.shape)}"
        )


def batch_norm_forward(layer, z: Tensor) -> Tensor:
    """Batch statistics in training (updating the running ones when tracked), running ones
    in evaluation (batch ones when not tracked), as PyTorch's ``_BatchNorm.forward``."""
    momentum = 0.0 if layer.momentum is None else layer.momentum
    if layer.training and layer.track_running_stats:
        layer.num_batches_tracked += 1
        if layer.momentum is None:  # the cumulative moving average
            momentum = 1.0 / float(layer.num_batches_tracked)
    return norm.batch_norm(
        z,
        layer.running_mean,
        layer.running_var,
        layer.weight,
        layer.bias,
        training=layer.training or not layer.track_running_stats,
        momentum=momentum,
        eps=layer.eps,
    )


def batch_norm_repr(layer) -> str:
    return (
        f"{layer.num_features}, eps={layer.eps}, momentum={layer.momentum}, "
        f"affine={layer.affine}, track_running_stats={layer.track_running_stats}"
    )


class LayerNorm(Module):
    """``x = gamma (z - mu) / sqrt(sigma^2 + eps) + beta`` with mu and the biased sigma^2 over
    the trailing ``normalized_shape`` axes of each sample; ``weight`` (gamma, ones) and
    ``bias`` (beta, zeros) of ``normalized_shape`` when ``elementwise_affine`` (``bias=False``
    drops beta). As ``torch.nn.LayerNorm``.

    Shape: ``(*, *normalized_shape) -> (*, *normalized_shape)``.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype=np.float32,
    ) -> None:
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype), dtype=dtype)
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype), dtype=dtype)

    def forward(self, z: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if z.ndim < k or tuple(z.shape[z.ndim - k :]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm({self.normalized_shape}) expects input of shape "
                f"(*, {', '.join(map(str, self.normalized_shape))}), got {tuple(z.shape)}"
            )
        return norm.layer_norm(z, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}"
        )


class GroupNorm(Module):
    """The C channels in ``num_groups`` groups of consecutive channels; each sample's group
    standardised over its channels and positions (biased variance), then
    ``x = gamma xhat + beta`` per channel (``weight`` ones, ``bias`` zeros, when ``affine``).
    As ``torch.nn.GroupNorm``.

    Shape: ``(N, C, *) -> (N, C, *)``.
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        *,
        dtype=np.float32,
    ) -> None:
        if num_groups < 1 or num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels={num_channels} must be divisible by "
                f"num_groups={num_groups}"
            )
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine = eps, affine
        self.weight = self.bias = None
        if affine:
            self.weight = Parameter(np.ones(num_channels, dtype), dtype=dtype)
            self.bias = Parameter(np.zeros(num_channels, dtype), dtype=dtype)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim < 2 or z.shape[1] != self.num_channels or math.prod(z.shape) == 0:
            raise ValueError(
                f"GroupNorm({self.num_groups}, {self.num_channels}) expects input of shape "
                f"(N, {self.num_channels}, *), got {tuple(z.shape)}"
            )
        return norm.group_norm(z, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
