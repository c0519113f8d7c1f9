"""Non-spine probe images for the OOD benchmark (built in memory, nothing downloaded).

Categories: natural/scientific photos shipped by scikit-image, synthetic images (noise, blank,
gradients, patterns), rendered text "screenshots", and crops of non-spine regions (lateral
thirds of full-torso films: ribs, lungs, shoulders, no spine) taken from held-out images.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

SKIMAGE_NAMES = [
    "astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "page", "text", "clock",
    "horse", "hubble_deep_field", "immunohistochemistry", "retina", "brick", "grass", "gravel",
    "checkerboard", "cell", "logo", "colorwheel", "microaneurysms", "motorcycle", "cat", "eagle",
]


def skimage_photos() -> list[tuple[str, np.ndarray]]:
    import skimage.data as data

    out = []
    for name in SKIMAGE_NAMES:
        try:
            img = getattr(data, name)()
        except Exception:  # some need a download (pooch); skip those offline
            continue
        if isinstance(img, tuple):
            img = img[0]
        img = np.asarray(img)
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        out.append((f"skimage:{name}", img))
    return out


def synthetic(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out: list[tuple[str, np.ndarray]] = []
    for h, w in [(512, 512), (800, 300), (300, 800)]:
        out.append((f"noise_uniform_{h}x{w}", rng.integers(0, 256, (h, w), dtype=np.uint8)))
        out.append((f"noise_gauss_{h}x{w}", np.clip(rng.normal(128, 40, (h, w)), 0, 255).astype(np.uint8)))
        out.append((f"blank_black_{h}x{w}", np.zeros((h, w), np.uint8)))
        out.append((f"blank_white_{h}x{w}", np.full((h, w), 255, np.uint8)))
        out.append((f"blank_gray_{h}x{w}", np.full((h, w), 128, np.uint8)))
        yy, xx = np.mgrid[0:h, 0:w]
        out.append((f"gradient_h_{h}x{w}", (xx / w * 255).astype(np.uint8)))
        out.append((f"gradient_v_{h}x{w}", (yy / h * 255).astype(np.uint8)))
        r = np.hypot(yy - h / 2, xx - w / 2)
        out.append((f"gradient_radial_{h}x{w}", (255 * (1 - r / r.max())).astype(np.uint8)))
        out.append((f"stripes_{h}x{w}", ((xx // 16) % 2 * 255).astype(np.uint8)))
        out.append((f"checker_{h}x{w}", (((xx // 32) + (yy // 32)) % 2 * 255).astype(np.uint8)))
        colour = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
        out.append((f"colour_blocks_{h}x{w}", np.asarray(Image.fromarray(colour).resize((w, h), Image.NEAREST))))
    return out


def text_screenshots(seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    words = "patient report lumbar spine radiograph findings impression normal alignment no fracture".split()
    out = []
    for i, (h, w, dark) in enumerate([(600, 800, False), (800, 600, True), (400, 1200, False),
                                      (1000, 400, False), (768, 1024, True), (900, 900, False)]):
        img = Image.new("L", (w, h), 20 if dark else 235)
        draw = ImageDraw.Draw(img)
        for line in range(0, h - 30, 28):
            text = " ".join(rng.choice(words, size=int(rng.integers(3, 9))))
            draw.text((12, line + 6), text, fill=230 if dark else 25, font_size=18)
        if i % 2:
            draw.rectangle((w * 0.6, h * 0.1, w * 0.95, h * 0.4), outline=128, width=3)
        out.append((f"text_screenshot_{i}", np.asarray(img)))
    return out


def non_spine_crops(grays: list[np.ndarray], names: list[str]) -> list[tuple[str, np.ndarray]]:
    """Lateral thirds of wide (full-torso) films: anatomy without the spine."""
    out = []
    for gray, name in zip(grays, names, strict=True):
        h, w = gray.shape
        if w / h < 0.45:  # narrow films are mostly spine; no clean lateral region
            continue
        third = w // 3
        out.append((f"crop_left:{name}", (gray[:, : third - w // 20] * 255).astype(np.uint8)))
        out.append((f"crop_right:{name}", (gray[:, 2 * third + w // 20 :] * 255).astype(np.uint8)))
    return out


# Real medical images that pydicom's wheel ships (CT and MR slices, ultrasound, secondary
# captures): imaging from other modalities and body parts, the nearest we have offline to "a
# radiograph of something else".
PYDICOM_FILES = ["CT_small.dcm", "MR_small.dcm", "JPEG-lossy.dcm", "JPGExtended.dcm", "US1_J2KR.dcm",
                 "emri_small.dcm", "SC_rgb.dcm", "MR2_J2KR.dcm", "RG1_J2KR.dcm", "RG3_J2KR.dcm"]


def pydicom_images() -> list[tuple[str, np.ndarray]]:
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    out = []
    for name in PYDICOM_FILES:
        try:
            path = get_testdata_file(name, download=False)
            if path is None:
                continue
            pixels = np.asarray(dcmread(path).pixel_array, dtype=np.float64)
        except Exception:  # a file needing a codec that is not installed: skip it
            continue
        if pixels.ndim == 4 or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
            pixels = pixels[len(pixels) // 2]  # middle frame of a multi-frame file
        lo, hi = np.percentile(pixels, [1, 99])
        scaled = np.clip((pixels - lo) / max(hi - lo, 1e-6), 0, 1)
        out.append((f"dicom:{name}", (scaled * 255).astype(np.uint8)))
    return out


def fixed_probe_set() -> list[tuple[str, np.ndarray]]:
    return skimage_photos() + synthetic() + text_screenshots() + pydicom_images()
