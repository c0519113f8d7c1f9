"""Speed of the EfficientNet-Lite variants and input sizes the engine supports, on real films.

Cost depends on the architecture and canvas, not on the weights, so each candidate is timed with
untrained weights behind the real Predictor (decode, preprocessing, both OOD scores, Grad-CAM and
overlay). Accuracy of the variants is not measured here: each would need its own 5-fold CV
(about 30 minutes of this machine per candidate; see bench/engine_cv.py).

Run:  .venv/bin/python bench/engine_variants.py [--threads 2] [--images 30] [--repeats 3]
Writes bench/out/engine_variants.json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CANDIDATES = [
    ("tf_efficientnet_lite0", 224), ("tf_efficientnet_lite0", 256), ("tf_efficientnet_lite0", 320),
    ("tf_efficientnet_lite1", 240), ("tf_efficientnet_lite1", 256), ("tf_efficientnet_lite2", 260),
]
TARGET_PREDICT_MS, TARGET_GRADCAM_MS = 50.0, 150.0


def predictor_for(architecture: str, size: int):
    import torch

    from inference.engine import OODDetector, Predictor, PreprocessParams, create_model
    from inference.engine.ood import MahalanobisOOD

    model = create_model(architecture, 3, pretrained=False)
    features = model.num_features
    ood = OODDetector(MahalanobisOOD(torch.zeros(3, features), torch.eye(features), threshold=1e9))
    metadata = {"labels": ["normal", "scoliosis", "spondylolisthesis"], "temperature": 1.0,
                "preprocessing": PreprocessParams(input_size=size).to_dict(), "architecture": architecture}
    return Predictor(model, ood, metadata, sha256="untrained"), sum(p.numel() for p in model.parameters())


def median_ms(predictor, paths: list[Path], gradcam: bool, repeats: int) -> float:
    predictor.predict(paths[0], gradcam=gradcam)  # warm-up
    times = []
    for _ in range(repeats):
        for path in paths:
            start = time.perf_counter()
            predictor.predict(path, gradcam=gradcam)
            times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3, help="passes over the images per candidate")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fraiwan")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = sorted(p for p in args.data.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not paths:
        sys.exit(f"no images under {args.data}")
    paths = paths[:: max(1, len(paths) // args.images)][: args.images]
    rows = []
    for architecture, size in CANDIDATES:
        predictor, params = predictor_for(architecture, size)
        row = {"architecture": architecture, "input_size": size, "parameters_m": round(params / 1e6, 2),
               "predict_median_ms": median_ms(predictor, paths, gradcam=False, repeats=args.repeats),
               "predict_gradcam_median_ms": median_ms(predictor, paths, gradcam=True, repeats=args.repeats)}
        row["meets_speed_targets"] = (row["predict_median_ms"] <= TARGET_PREDICT_MS
                                      and row["predict_gradcam_median_ms"] <= TARGET_GRADCAM_MS)
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = ROOT / "bench" / "out" / "engine_variants.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "images": len(paths), "repeats": args.repeats, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
