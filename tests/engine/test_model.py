from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from torch import nn

from inference.engine import create_model
from inference.engine.model import PretrainedWeightsError, load_imagenet_weights
from training.engine.loop import _freeze, _set_train_mode

IMAGENET_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def _imagenet_input(rgb: np.ndarray) -> torch.Tensor:
    from PIL import Image

    resized = np.asarray(Image.fromarray(rgb).resize((224, 224)), dtype=np.float32) / 255.0
    return ((torch.from_numpy(resized).permute(2, 0, 1) - 0.5) / 0.5).unsqueeze(0)


def test_packaged_imagenet_weights_load_strictly_and_still_recognise_a_cat():
    model = create_model(num_classes=1000).eval()  # strict load inside; head kept
    with torch.inference_mode():
        top1 = model(_imagenet_input(skimage.data.chelsea())).argmax(1).item()
    assert top1 in IMAGENET_CATS


@pytest.mark.parametrize("architecture", ["tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_larger_variants_load_their_packaged_weights_strictly(architecture):
    model = create_model(architecture, num_classes=1000).eval()
    with torch.inference_mode():
        top1 = model(_imagenet_input(skimage.data.chelsea())).argmax(1).item()
    assert top1 in IMAGENET_CATS


def test_packaged_weights_refuse_a_different_architecture():
    import timm

    other = timm.create_model("tf_efficientnet_lite1", pretrained=False)
    with pytest.raises(PretrainedWeightsError):
        load_imagenet_weights(other, "tf_efficientnet_lite0")


def test_new_head_has_requested_classes():
    model = create_model(num_classes=3, pretrained=False)
    assert model.classifier.out_features == 3


def test_one_batch_overfit():
    """The model, loss and optimiser can drive the loss of a fixed batch close to zero."""
    torch.manual_seed(0)
    model = create_model(num_classes=3, pretrained=False, drop_rate=0.0)
    frozen = _freeze(model, 2)
    _set_train_mode(model, frozen)
    x = torch.randn(6, 3, 64, 64)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    loss = nn.functional.cross_entropy(model(x), y)
    first = loss.item()
    for _ in range(40):
        loss = nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.05 < first


def test_frozen_stages_keep_pretrained_batchnorm_statistics():
    model = create_model(num_classes=3, pretrained=False)
    frozen = _freeze(model, 2)
    before = model.bn1.running_mean.clone()
    _set_train_mode(model, frozen)
    model(torch.randn(4, 3, 64, 64) * 5)
    assert torch.equal(model.bn1.running_mean, before)
    assert not any(p.requires_grad for p in model.conv_stem.parameters())
