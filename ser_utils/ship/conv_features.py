"""The convolutional feature encoder of wav2vec2, HuBERT, WavLM and data2vec-audio run channels-last, each
convolution as one matrix product: what `Predictor(precision="bf16")` runs on a CPU.

The encoders' own code keeps its activations as (batch, channels, time). Under bf16 autocast on 2 cores of an AMX
Xeon, torch.profiler finds most of their time in copies of up to 16 x 512 x 7999 values from one memory layout to
another around the convolutions, not in the convolutions. Here the activations stay (batch, time, channels) from the
waveform to the transformer: a convolution of kernel k and stride s reads k consecutive frames of every channel,
which in this layout are k x channels consecutive values, so a strided view of the input times the kernel as a
(channels out, k x channels in) matrix is the whole convolution; the per-channel group norm of the first layer runs
on the same layout (PyTorch's channels-last kernel). The arithmetic is the encoder's, in another order:
in fp32 the outputs agree with the encoder's own to about 1e-6 (tests/ship/test_conv_features.py).
"""

from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torch.nn import ModuleList


def _plain_conv(conv) -> bool:
    """Whether `conv` is a Conv1d that the matrix product computes: no padding, no dilation, one group."""
    return isinstance(conv, torch.nn.Conv1d) and conv.padding == (0,) and conv.dilation == (1,) and conv.groups == 1


def _plain_norm(layer) -> bool:
    """Whether a conv layer's norm (if any) is one this layout computes: a group norm of one channel a group, or a
    layer norm over the channels."""
    norm = getattr(layer, "layer_norm", None)
    channels = layer.conv.out_channels
    if norm is None:
        return True
    if isinstance(norm, torch.nn.GroupNorm):
        return norm.num_groups == norm.num_channels == channels
    return isinstance(norm, torch.nn.LayerNorm) and tuple(norm.normalized_shape) == (channels,)


def _conv_matrix(conv) -> torch.Tensor:
    """The kernel of `conv` as a (channels out, kernel x channels in) matrix, frame-major like the strided view."""
    return conv.weight.permute(0, 2, 1).reshape(conv.out_channels, -1)


def _forward(encoder, input_values: torch.Tensor) -> torch.Tensor:
    """The encoder's forward pass on (batch, samples): (batch, channels, frames), as its own returns it (a view)."""
    if encoder.training:  # training keeps the encoder's own code, and its gradients
        return encoder.stock_forward(input_values)
    hidden = input_values[:, :, None]
    for layer in encoder.conv_layers:
        hidden = hidden.contiguous()
        batch, frames, channels = hidden.shape
        kernel = layer.conv.kernel_size[0]
        stride = layer.conv.stride[0]
        out_frames = (frames - kernel) // stride + 1
        windows = hidden.as_strided((batch, out_frames, kernel * channels), (frames * channels, stride * channels, 1))
        hidden = F.linear(windows.reshape(batch * out_frames, -1), _conv_matrix(layer.conv), layer.conv.bias)
        hidden = hidden.view(batch, out_frames, -1)
        norm = getattr(layer, "layer_norm", None)
        if isinstance(norm, torch.nn.GroupNorm):  # (batch, channels, 1, frames) channels-last: no copy either way
            hidden = norm(hidden.transpose(1, 2).unsqueeze(2)).squeeze(2).transpose(1, 2)
        elif norm is not None:
            hidden = norm(hidden)
        hidden = layer.activation(hidden)
    return hidden.transpose(1, 2)


def channels_last_encoder(model: torch.nn.Module) -> bool:
    """Run the convolutional feature encoder of `model` channels-last in inference (eval mode); training, and
    `model.train()`, keep its own code. True where the model has such an encoder and every layer is a plain
    convolution (with a per-channel group norm or a layer norm); False leaves the model as it was (Whisper, or an
    encoder of another shape). The kernels are read as matrices at each pass, so the model may move or load weights."""
    encoders = [module for module in model.modules() if isinstance(getattr(module, "conv_layers", None), ModuleList)]
    plain = all(
        _plain_conv(getattr(layer, "conv", None)) and _plain_norm(layer)
        for encoder in encoders
        for layer in encoder.conv_layers
    )
    if not encoders or not plain:
        return False
    for encoder in encoders:
        encoder.stock_forward = encoder.forward
        encoder.forward = types.MethodType(_forward, encoder)
    return True
