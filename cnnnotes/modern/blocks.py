"""Modern building blocks: global average pooling, the residual block, depthwise-separable
convolution.

* **Global average pooling** (Lin et al., 2014) replaces a big fully connected layer
  on the flattened feature map by the mean of each channel: ``(N, C, H, W) → (N, C)``
  with no parameters, whatever ``H × W``. The notes' ``fc1`` takes ``64·14·14 =
  12,544`` inputs to 128 outputs, 98.8 % of the network's parameters; after GAP a
  linear layer sees only 64.
* **The residual block** (He et al., 2016) computes ``y = ReLU(x + F(x))`` with
  ``F = conv-BN-ReLU-conv-BN``. By the chain rule, ``∂(x + F(x))/∂x = I + ∂F/∂x``: the
  gradient reaching a block's output is passed to its input unchanged *plus* what
  ``F`` makes of it. Through ``L`` plain layers the gradient is a product of ``L``
  Jacobians that can shrink geometrically; through ``L`` residual blocks the product
  of ``(I + ∂F_l/∂x)`` always contains the identity path, so early layers still get a
  gradient. When the block changes the shape (stride 2, more channels), the shortcut
  is a 1×1 convolution with stride (and batch norm), the *projection*.
* **Depthwise-separable convolution** (MobileNet) splits a ``k × k`` convolution into
  a depthwise one (one ``k × k`` filter per channel, ``groups = C_in``) and a
  pointwise ``1 × 1`` one that mixes channels: about ``1/C_out + 1/k²`` of the
  parameters and MACs (:mod:`cnnnotes.modern.cost`).

The convolutions before batch norm have no bias: batch norm subtracts each channel's
mean and cancels it (:mod:`cnnnotes.modern.batchnorm`).
"""

from __future__ import annotations

from torch import Tensor, nn

from cnnnotes._validate import boolean, positive_int, require, tensor

__all__ = ["DepthwiseSeparable", "ResidualBlock", "global_avg_pool"]


def global_avg_pool(x: Tensor) -> Tensor:
    """The mean of each channel over its ``H × W`` values: ``(N, C, H, W) → (N, C, 1, 1)``.

    ``out[n, c] = (1/(H·W)) Σ_{i,j} x[n, c, i, j]``, like ``F.adaptive_avg_pool2d(x, 1)``
    (an unbatched ``(C, H, W)`` gives ``(C, 1, 1)``).

    >>> import torch
    >>> global_avg_pool(torch.arange(8.0).reshape(1, 2, 2, 2)).flatten()  # (0+1+2+3)/4, ...
    tensor([1.5000, 5.5000])
    """
    tensor(x, "x", shape="(N, C, H, W)", ndims=(3, 4), floating=True)
    require(0 not in x.shape, f"x must have no empty dimension, got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    return x.sum(dim=(-2, -1), keepdim=True) / (h * w)


def _conv_bn(c_in: int, c_out: int, k: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, bias=False), nn.BatchNorm2d(c_out)]


class ResidualBlock(nn.Module):
    """``ReLU(F(x) + shortcut(x))`` with ``F = conv3×3(stride)-BN-ReLU-conv3×3-BN``.

    The shortcut is the identity when the shape is kept (``stride == 1`` and
    ``c_in == c_out``), else a 1×1 convolution with that stride and a batch norm.
    ``residual=False`` builds the *plain twin*: the same ``F`` and final ReLU, no
    shortcut at all, for a plain-versus-residual comparison at equal depth. Its
    parameters are :func:`~cnnnotes.modern.cost.residual_block_params`.

    >>> import torch
    >>> block = ResidualBlock(16, 32, stride=2)
    >>> block(torch.zeros(2, 16, 28, 28)).shape, type(block.shortcut[0]).__name__
    (torch.Size([2, 32, 14, 14]), 'Conv2d')
    >>> ResidualBlock(16, 16).shortcut, ResidualBlock(16, 32, residual=False).shortcut
    (Identity(), None)
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        c_in, c_out = positive_int(c_in, "c_in"), positive_int(c_out, "c_out")
        stride = positive_int(stride, "stride")
        self.residual = boolean(residual, "residual")
        self.body = nn.Sequential(
            *_conv_bn(c_in, c_out, 3, stride), nn.ReLU(), *_conv_bn(c_out, c_out, 3, 1)
        )
        self.shortcut: nn.Module | None = None
        if residual:
            same = stride == 1 and c_in == c_out
            self.shortcut = (
                nn.Identity() if same else nn.Sequential(*_conv_bn(c_in, c_out, 1, stride))
            )
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out = self.body(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)  # the identity path: ∂/∂x gains an I
        return self.relu(out)


class DepthwiseSeparable(nn.Sequential):
    """A depthwise ``k × k`` convolution then a pointwise 1×1 one (MobileNet's block).

    With ``norm=True`` (the default) each convolution is followed by batch norm and
    ReLU, as in MobileNet, and has no bias; ``norm=False`` gives the two bare
    convolutions (with biases when ``bias=True``), the drop-in replacement for one
    ``nn.Conv2d(c_in, c_out, k, stride, padding=k // 2)``. Parameters of the
    convolutions: :func:`~cnnnotes.modern.cost.depthwise_separable_params`.

    >>> import torch
    >>> block = DepthwiseSeparable(32, 64, norm=False)
    >>> block(torch.zeros(1, 32, 28, 28)).shape, block.depthwise.groups
    (torch.Size([1, 64, 28, 28]), 32)
    >>> sum(p.numel() for p in block.parameters())  # 32·9 + 32 + 32·64 + 64
    2432
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int = 3,
        stride: int = 1,
        norm: bool = True,
        bias: bool = True,
    ) -> None:
        c_in, c_out = positive_int(c_in, "c_in"), positive_int(c_out, "c_out")
        k, stride = positive_int(kernel_size, "kernel_size"), positive_int(stride, "stride")
        norm, bias = boolean(norm, "norm"), boolean(bias, "bias")
        has_bias = bias and not norm
        layers = {
            "depthwise": nn.Conv2d(c_in, c_in, k, stride, k // 2, groups=c_in, bias=has_bias),
            "bn1": nn.BatchNorm2d(c_in) if norm else None,
            "relu1": nn.ReLU() if norm else None,
            "pointwise": nn.Conv2d(c_in, c_out, 1, bias=has_bias),
            "bn2": nn.BatchNorm2d(c_out) if norm else None,
            "relu2": nn.ReLU() if norm else None,
        }
        super().__init__()
        for name, layer in layers.items():
            if layer is not None:
                self.add_module(name, layer)
