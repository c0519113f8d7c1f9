"""Vertebra landmark network: EfficientNet-Lite features, one heat-map per vertebra, corner offsets.

Design (CPU first):
- Input: the shared preprocessing (``preprocessing.preprocess_with_box``) on a tall canvas,
  512 x 256 by default; AP spine films are 2-3 times taller than wide.
- Backbone: EfficientNet-Lite0 blocks from the packaged ImageNet weights (``model.create_model``),
  without its 1280-channel head. Stride-32, -16 and -8 features are fused top-down (a small FPN)
  with two coordinate channels, so the head knows where on the film it looks: which vertebra is
  T1 and which is L5 depends on position along the column, not only on local texture.
- Output at stride 8: 17 heat-maps (T1..L5) and, for every vertebra, 8 corner offsets from its
  centre. A spatial soft-max per heat-map gives a probability map; the centre is its expectation
  (sub-pixel, differentiable), the corners are the centre plus the offsets averaged under the
  same map. Training supervises the corners directly (L1) and keeps each map peaked on its
  vertebra (a KL term towards a small Gaussian), so the peak mass is a meaningful confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .cobb import NUM_VERTEBRAE
from .model import DEFAULT_ARCHITECTURE, create_model

LANDMARK_ARCHITECTURE = f"{DEFAULT_ARCHITECTURE}-fpn8-vertebra17"
STRIDE = 8
# Offsets are predicted in units of this many canvas pixels, so the head's outputs stay near 1.
OFFSET_SCALE = 16.0
# Peak mass is summed over this window (in stride-8 cells) around the arg-max: the confidence
# every checkpoint's not-measured thresholds were set on.
PEAK_WINDOW = 3
# The corners the angles are measured on are the expectation over this wider window. A 3 x 3
# window truncates a map's spread (about 1.5 cells) and pulls the answer towards the arg-max
# cell; 5 x 5 (+-16 canvas pixels) still stays inside one vertebra step (about 22 pixels on the
# 384-pixel canvas). Largest-angle MAE on the same measured films, 3 x 3 -> 5 x 5: chosen on the
# fold-0 (shipped) and fold-2 CV models, 5.36 -> 5.09 and 4.84 -> 4.04 deg (7 x 7 and 9 x 9 were
# no better); on folds 1 and 4, trained after it was fixed, 4.76 -> 3.91 and 4.66 -> 4.18.
CORNER_WINDOW = 5


def _conv_bn(in_ch: int, out_ch: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class LandmarkNet(nn.Module):
    """(B, 3, H, W) canvas -> heat-map logits (B, 17, H/8, W/8), offsets (B, 17, 8, H/8, W/8)."""

    def __init__(self, backbone: str = DEFAULT_ARCHITECTURE, pretrained: bool = True, width: int = 96):
        super().__init__()
        source = create_model(backbone, num_classes=1000, pretrained=pretrained)
        self.stem = nn.Sequential(source.conv_stem, source.bn1)
        self.blocks = source.blocks  # the 1280-channel conv_head and classifier are not kept
        channels = [stage[-1].conv_pwl.out_channels if hasattr(stage[-1], "conv_pwl")
                    else stage[-1].conv_pw.out_channels for stage in self.blocks]
        self.lateral32 = nn.Conv2d(channels[6], width, 1)
        self.lateral16 = nn.Conv2d(channels[4], width, 1)
        self.lateral8 = nn.Conv2d(channels[2], width, 1)
        self.smooth16 = _conv_bn(width, width)
        self.head = nn.Sequential(_conv_bn(width + 2, width), _conv_bn(width, width))
        self.heatmap = nn.Conv2d(width, NUM_VERTEBRAE, 1)
        self.offsets = nn.Conv2d(width, NUM_VERTEBRAE * 8, 1)
        nn.init.zeros_(self.offsets.weight)
        nn.init.zeros_(self.offsets.bias)

    def backbone_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        features = []
        for stage in self.blocks:
            x = stage(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heat-map logits, offsets, and the pooled deepest features (for the OOD score)."""
        feats = self.backbone_features(x)
        top = self.lateral32(feats[6])
        mid = self.smooth16(self.lateral16(feats[4]) + F.interpolate(top, size=feats[4].shape[-2:], mode="nearest"))
        low = self.lateral8(feats[2]) + F.interpolate(mid, size=feats[2].shape[-2:], mode="nearest")
        h = self.head(torch.cat([low, coordinate_channels(low)], dim=1))
        b, _, hh, ww = h.shape
        offsets = self.offsets(h).view(b, NUM_VERTEBRAE, 8, hh, ww)
        pooled = feats[6].mean(dim=(2, 3))
        return self.heatmap(h), offsets, pooled


def coordinate_channels(reference: torch.Tensor) -> torch.Tensor:
    b, _, h, w = reference.shape
    ys = torch.linspace(-1, 1, h, dtype=reference.dtype, device=reference.device)
    xs = torch.linspace(-1, 1, w, dtype=reference.dtype, device=reference.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y]).unsqueeze(0).expand(b, -1, -1, -1)


def cell_centres(h: int, w: int, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Canvas pixel coordinates (x, y) of the stride-8 cell centres, each (h, w)."""
    ys = (torch.arange(h, dtype=dtype) + 0.5) * STRIDE
    xs = (torch.arange(w, dtype=dtype) + 0.5) * STRIDE
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return grid_x, grid_y


@dataclass
class DecodedLandmarks:
    """Per film, in canvas pixels: corners (17, 4, 2), centres (17, 2), peak mass (17,)."""

    corners: torch.Tensor
    centres: torch.Tensor
    confidence: torch.Tensor


def soft_landmarks(heat_logits: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Differentiable decoding over the whole map: corners (B,17,4,2), centres (B,17,2), probs."""
    b, v, h, w = heat_logits.shape
    probs = heat_logits.flatten(2).softmax(dim=-1).view(b, v, h, w)
    grid_x, grid_y = cell_centres(h, w, heat_logits.dtype)
    cx = (probs * grid_x).sum(dim=(2, 3))
    cy = (probs * grid_y).sum(dim=(2, 3))
    centres = torch.stack([cx, cy], dim=-1)
    off = (offsets * probs.unsqueeze(2)).sum(dim=(3, 4)).view(b, v, 4, 2) * OFFSET_SCALE
    return centres.unsqueeze(2) + off, centres, probs


def peak_landmarks(heat_logits: torch.Tensor, offsets: torch.Tensor, window: int = PEAK_WINDOW) -> list[DecodedLandmarks]:
    """Serving decoder: expectation within a ``window`` x ``window`` square around each map's arg-max.

    A map torn between two places (T7 or T8?) would put a whole-map expectation between them;
    the local window keeps the answer on one vertebra, and its mass says how sure the map is.
    """
    b, v, h, w = heat_logits.shape
    probs = heat_logits.flatten(2).softmax(dim=-1).view(b, v, h, w)
    grid_x, grid_y = cell_centres(h, w, heat_logits.dtype)
    r = window // 2
    results = []
    for i in range(b):
        flat = probs[i].flatten(1).argmax(dim=1)
        corners, centres, mass = [], [], []
        for k in range(v):
            y, x = divmod(int(flat[k]), w)
            ys, xs = slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1)
            window = probs[i, k, ys, xs]
            total = window.sum()
            weights = window / total.clamp_min(1e-12)
            centre = torch.stack([(weights * grid_x[ys, xs]).sum(), (weights * grid_y[ys, xs]).sum()])
            off = (offsets[i, k, :, ys, xs] * weights).sum(dim=(1, 2)).view(4, 2) * OFFSET_SCALE
            corners.append(centre + off)
            centres.append(centre)
            mass.append(total)
        results.append(DecodedLandmarks(torch.stack(corners), torch.stack(centres), torch.stack(mass)))
    return results


# Mirroring a film swaps each vertebra's left and right corners: TL<->TR, BL<->BR.
MIRROR_CORNER_ORDER = [1, 0, 3, 2]


def unmirror(decoded: DecodedLandmarks, canvas_width: int) -> DecodedLandmarks:
    """Landmarks decoded on the mirrored canvas, mapped back onto the original canvas."""
    corners = decoded.corners[:, MIRROR_CORNER_ORDER].clone()
    corners[..., 0] = canvas_width - corners[..., 0]
    centres = decoded.centres.clone()
    centres[:, 0] = canvas_width - centres[:, 0]
    return DecodedLandmarks(corners, centres, decoded.confidence)


def _median_step(decoded: DecodedLandmarks) -> torch.Tensor:
    return torch.diff(decoded.centres, dim=0).norm(dim=1).median().clamp_min(1e-6)


def mirror_average(plain: DecodedLandmarks, mirrored: DecodedLandmarks) -> DecodedLandmarks:
    """Average of the film's and its mirror image's answers (already unmirrored), per vertebra.

    Where the two peaks sit on different vertebrae (more than half the column's median step
    apart), an average would fall between them: the more confident answer is kept instead.
    """
    # Half the two answers' mean step: the same bar whichever answer is called plain, so a film
    # and its mirror image get mirror-image corners.
    step = (_median_step(plain) + _median_step(mirrored)) / 2
    agree = (plain.centres - mirrored.centres).norm(dim=1) <= 0.5 * step
    # Per vertebra, the mirrored answer's weight: a half where the two agree, else all or nothing.
    weight = torch.where(agree, 0.5, (mirrored.confidence > plain.confidence).to(plain.corners.dtype))

    def blend(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        w = weight.view((-1,) + (1,) * (a.dim() - 1))
        return a + w * (b - a)

    return DecodedLandmarks(blend(plain.corners, mirrored.corners), blend(plain.centres, mirrored.centres),
                            blend(plain.confidence, mirrored.confidence))
