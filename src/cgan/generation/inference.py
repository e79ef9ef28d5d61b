"""The DCGAN generators rewritten for fast inference on a CPU: the same function, less arithmetic.

Three exact rewrites of a trained DCGANGenerator in eval mode (docs/speed.md has what each bought); the
conditional-batch-norm generator (DCGANCBNGenerator) gets the first and the last:
- Batch norm in eval mode is a per-channel affine map: it folds into the weights of the layer before it.
  Conditional batch norm is a per-class, per-channel one: it becomes a table of scales and shifts.
- The label map beside the features goes through a linear up-convolution, so its contribution depends on
  the class alone: it is computed once per class into a table and added as a bias, which takes the label
  channels out of every convolution.
- A stride-2, 4x4 transposed convolution computes each 2x2 block of its output from a 2x2 neighbourhood of
  its input, through a different 2x2 slice of the kernel for each of the four positions in the block: it
  equals one padded 2x2 convolution into four times the channels whose outputs are interleaved. oneDNN runs
  a plain convolution several times as fast as a transposed one.

Activations are kept channels-last (NHWC): oneDNN convolves that layout without reordering it to its own
blocked one and back on every call, and the projection writes it directly.

With precision "bf16" the weights and activations are bfloat16 (accumulation stays fp32 inside oneDNN), on
CPUs that compute it natively; "fp32" gives the network's own images up to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models import ConditionalBatchNorm, DCGANCBNGenerator, DCGANGenerator, rows_of

PRECISIONS = ("auto", "bf16", "fp32")


def cpu_computes_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX), as oneDNN sees it."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(name: str) -> str:
    """auto -> bf16 where this CPU computes it natively, else fp32."""
    if name != "auto":
        return name
    return "bf16" if cpu_computes_bf16() else "fp32"


def batch_norm_affine(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with norm(x) == x * scale + shift per channel, in eval mode (with or without the
    norm's own affine weights)."""
    assert norm.running_var is not None and norm.running_mean is not None
    scale = 1 / torch.sqrt(norm.running_var + norm.eps)
    if norm.affine:
        scale = norm.weight * scale
    shift = -norm.running_mean * scale
    return scale, shift + norm.bias if norm.affine else shift


def phase_weight(weight: torch.Tensor) -> torch.Tensor:
    """The weight (C, O, 4, 4) of ConvTranspose2d(C, O, 4, stride=2, padding=1) as the weight (4 O, C, 2, 2)
    of a Conv2d with padding 1, its output channels in (a, b, o) order.

    Output pixel (2m + a, 2n + b) of the transposed convolution reads inputs (m - 1 + a + r, n - 1 + b + s)
    for r, s in {0, 1} through kernel tap (3 - a - 2r, 3 - b - 2s): the padded convolution's output
    (m + a, n + b) in channels (a, b, :)."""
    taps = torch.tensor([[3, 1], [2, 0]])  # taps[a, r] = 3 - a - 2r
    rows = weight[:, :, taps]  # (C, O, a, r, 4)
    both = rows[..., taps]  # (C, O, a, r, b, s)
    return both.permute(2, 4, 1, 0, 3, 5).reshape(4 * weight.shape[1], weight.shape[0], 2, 2)


def projection_weight(linear: nn.Linear, scale: torch.Tensor) -> torch.Tensor:
    """The weight of the generator's first layer, whose outputs are (channel, pixel) of the first features,
    as the (in, pixel x channel) matrix that writes them channels-last, each channel's rows times `scale`."""
    rows = linear.weight.view(len(scale), -1, linear.in_features) * scale[:, None, None]
    return rows.transpose(0, 1).reshape(-1, linear.in_features).t().contiguous()


def interleave(phases: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, 4 O, H + 1, W + 1) in (a, b, o) channel order -> (N, O, 2H, 2W) with pixel (2m + a, 2n + b) taken
    from channel (a, b, o) at (m + a, n + b). The result is channels-last; `phases` may be in either layout
    (channels-last reads fastest)."""
    n, channels = phases.shape[:2]
    phases = phases.permute(0, 2, 3, 1).view(n, height + 1, width + 1, 2, 2, channels // 4)
    out = phases.new_empty(n, height, 2, width, 2, channels // 4)
    for a in range(2):
        for b in range(2):
            out[:, :, a, :, b] = phases[:, a : a + height, b : b + width, a, b]
    return out.view(n, 2 * height, 2 * width, channels // 4).permute(0, 3, 1, 2)


class FoldedStage(nn.Module):
    """One up-convolution of the generator: the 2x2 convolution, interleaved, plus the class's bias map,
    then ReLU (or tanh at the image)."""

    weight: torch.Tensor
    shift: torch.Tensor
    class_bias: torch.Tensor

    def __init__(self, weight: torch.Tensor, label_bias: torch.Tensor, shift: torch.Tensor, last: bool):
        super().__init__()
        self.register_buffer("weight", weight.contiguous(memory_format=torch.channels_last))
        self.register_buffer("shift", shift)  # (O,): batch norm's shift or the conv's bias
        # (classes, H, W, O), channels-last like the activations: each class's label map through the
        # convolution, plus the shift, in one add
        self.register_buffer("class_bias", (label_bias.permute(0, 2, 3, 1) + shift).contiguous())
        self.last = last

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        height, width = features.shape[-2:]
        out = interleave(F.conv2d(features, self.weight, padding=1), height, width)
        pixels = out.permute(0, 2, 3, 1)  # (N, 2H, 2W, O): the memory as it lies
        pixels.add_(rows_of(self.class_bias, labels))
        if labels.is_floating_point():
            # Each class's map holds the shift once; weights that do not sum to 1 would count it that often.
            # One-hot weights give exactly the class's own map, so a blend's ends are that class's images.
            pixels.sub_((labels.to(out.dtype).sum(1) - 1)[:, None, None, None] * self.shift)
        return out.tanh_() if self.last else out.relu_()


class FoldedGenerator(nn.Module):
    """A DCGANGenerator's function, (z, labels) -> images in [-1, 1], rewritten as the module doc says."""

    project_weight: torch.Tensor
    project_bias: torch.Tensor

    @torch.no_grad()
    def __init__(self, net: DCGANGenerator, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.dtype = dtype
        sizes = net.sizes
        linear, norm = net.project[0], net.project[2]
        assert isinstance(linear, nn.Linear) and isinstance(norm, nn.BatchNorm2d)
        scale, shift = batch_norm_affine(norm)
        self.register_buffer("project_weight", projection_weight(linear, scale).to(dtype))
        self.register_buffer("project_bias", shift.repeat(sizes[0] ** 2).to(dtype))
        self.first_shape = (sizes[0], sizes[0], norm.num_features)
        stages = []
        for size, bigger in zip(sizes, sizes[1:], strict=False):
            up = getattr(net, f"up_{bigger}")
            conv, last = up[0], bigger == sizes[-1]
            if last:
                scale, shift = torch.ones(conv.out_channels), conv.bias
            else:
                scale, shift = batch_norm_affine(up[1])
            features = conv.in_channels - net.label_channels
            label_maps = getattr(net, f"label_map_{size}").weight.view(-1, net.label_channels, size, size)
            label_bias = F.conv_transpose2d(label_maps, conv.weight[features:], stride=2, padding=1)
            weight = phase_weight(conv.weight[:features] * scale[None, :, None, None])
            stages.append(
                FoldedStage(
                    weight.to(dtype), (label_bias * scale[None, :, None, None]).to(dtype), shift.to(dtype), last
                )
            )
        self.stages = nn.ModuleList(stages)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = torch.addmm(self.project_bias, z.to(self.dtype), self.project_weight).relu_()
        features = features.view(len(z), *self.first_shape).permute(0, 3, 1, 2)
        for stage in self.stages:
            features = stage(features, labels)
        return features.contiguous()


class ClassAffine(nn.Module):
    """Conditional batch norm in eval mode: x * scale[class] + shift[class] per channel, channels-last."""

    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(self, norm: ConditionalBatchNorm, dtype: torch.dtype):
        super().__init__()
        scale, shift = batch_norm_affine(norm.norm)
        # (classes, 1, 1, C): each class's scale and shift, shaped to multiply channels-last pixels
        self.register_buffer("scale", (norm.scale.weight * scale)[:, None, None, :].to(dtype))
        self.register_buffer("shift", (norm.scale.weight * shift + norm.shift.weight)[:, None, None, :].to(dtype))

    def forward(self, pixels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """pixels (N, H, W, C), changed in place and returned."""
        return pixels.mul_(rows_of(self.scale, labels)).add_(rows_of(self.shift, labels))


class FoldedCBNGenerator(nn.Module):
    """A DCGANCBNGenerator's function, (z, labels) -> images in [-1, 1]: the projection written
    channels-last, each up-convolution as the interleaved 2x2 convolution, and each conditional batch norm
    as a ClassAffine."""

    project_weight: torch.Tensor
    image_bias: torch.Tensor

    @torch.no_grad()
    def __init__(self, net: DCGANCBNGenerator, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.dtype = dtype
        sizes = net.sizes
        linear = net.project[0]
        assert isinstance(linear, nn.Linear)
        channels = linear.out_features // sizes[0] ** 2
        self.register_buffer("project_weight", projection_weight(linear, torch.ones(channels)).to(dtype))
        self.first_shape = (sizes[0], sizes[0], channels)
        self.norms = nn.ModuleList(ClassAffine(getattr(net, f"norm_{size}"), dtype) for size in sizes[:-1])
        for i, size in enumerate(sizes[1:]):
            weight = phase_weight(getattr(net, f"up_{size}").weight).to(dtype)
            self.register_buffer(f"weight_{i}", weight.contiguous(memory_format=torch.channels_last))
        self.register_buffer("image_bias", getattr(net, f"up_{sizes[-1]}").bias.to(dtype))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        pixels = (z.to(self.dtype) @ self.project_weight).view(len(z), *self.first_shape)
        for i, norm in enumerate(self.norms):
            features = norm(pixels, labels).relu_().permute(0, 3, 1, 2)
            height, width = features.shape[-2:]
            out = interleave(F.conv2d(features, getattr(self, f"weight_{i}"), padding=1), height, width)
            pixels = out.permute(0, 2, 3, 1)
        return pixels.add_(self.image_bias).tanh_().permute(0, 3, 1, 2).contiguous()


def inference_network(net: nn.Module, precision: str = "auto") -> nn.Module:
    """The fastest exact-enough form of `net` for generating on the CPU: a FoldedGenerator or
    FoldedCBNGenerator for the DCGAN generators, `net` itself for every other network (and on other
    devices)."""
    on_cpu = all(p.device.type == "cpu" for p in net.parameters())
    if not isinstance(net, DCGANGenerator | DCGANCBNGenerator) or not on_cpu:
        return net
    dtype = torch.bfloat16 if resolve_precision(precision) == "bf16" else torch.float32
    if isinstance(net, DCGANGenerator):
        return FoldedGenerator(net.eval(), dtype).eval()
    return FoldedCBNGenerator(net.eval(), dtype).eval()
