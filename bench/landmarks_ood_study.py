"""Compare ways of fitting the landmark model's OOD Gaussian and threshold on one CV checkpoint.

Extracts, once per checkpoint, the pooled deepest features and the not-measured reason with the
OOD check switched off for: the model's training films, its internal validation films, the
held-out fold's AP films, and the Fraiwan lumbar/lateral films; then reports, per variant, the
share of held-out AP films measured and of lumbar/lateral films not measured.

    .venv/bin/python bench/landmarks_ood_study.py var/lm_f3w/fold3.pt --cache var/ood_f3.npz
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inference.engine.landmark_model import peak_landmarks  # noqa: E402
from inference.engine.landmark_predictor import (  # noqa: E402
    LandmarkEvidence,
    LandmarkPredictor,
    MeasurabilityThresholds,
    not_measured_reason,
)
from inference.engine.ood import MahalanobisOOD, NearestFilmsOOD  # noqa: E402
from inference.engine.preprocessing import decode_image, preprocess_with_box  # noqa: E402
from training.engine.landmarks import checkpoint_split, samples_from_labels_csv  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@torch.inference_mode()
def _film(predictor: LandmarkPredictor, source) -> dict[str, np.ndarray]:
    """The film's own answer (what the checks read) and its pooled features, from one forward pass."""
    gray = decode_image(source, predictor.params.decode_max_side).pixels
    canvas = preprocess_with_box(gray, predictor.params)[0].unsqueeze(0)
    heat, offsets, pooled = predictor.model(torch.cat([canvas, canvas.flip(-1)]))
    own = peak_landmarks(heat[:1], offsets[:1])[0]
    return {"feats": pooled[0].numpy(), "feats_mirror": pooled[1].numpy(), "corners": own.corners.double().numpy(),
            "centres": own.centres.double().numpy(), "confidence": own.confidence.double().numpy()}


def extract(checkpoint: Path, data: Path) -> dict[str, np.ndarray]:
    predictor = LandmarkPredictor.from_checkpoint(checkpoint, num_threads=1)
    held = predictor.metadata.get("held_out_fold")
    samples = samples_from_labels_csv(data / "aasce")
    _, train, val = checkpoint_split(predictor.metadata, samples)
    groups = {"train": [s.read() for s in train], "val": [s.read() for s in val],
              "test": [s.read() for s in samples if s.fold == held],
              "spondy": sorted((data / "fraiwan" / "spondylolisthesis").iterdir()),
              "scolio": sorted((data / "fraiwan" / "scoliosis").iterdir())}
    out: dict[str, np.ndarray] = {}
    for name, sources in groups.items():
        rows = [_film(predictor, src) for src in sources]
        for key in rows[0]:
            out[f"{name}_{key}"] = np.stack([r[key] for r in rows])
        print(name, len(rows), flush=True)
    out["limits"] = np.array(json.dumps(predictor.limits.to_dict()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if not args.cache.exists():
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.cache, **extract(args.checkpoint, args.data))
    d = dict(np.load(args.cache))
    report(d)
    if "train_feats_mirror" in d:
        report_mirror(d)
    report_neighbours(d)


def _gauss(fit: np.ndarray) -> MahalanobisOOD:
    return MahalanobisOOD.fit(fit, np.zeros(len(fit), dtype=int), 1)


def _evidence(d: dict[str, np.ndarray], group: str, dist: np.ndarray) -> list[LandmarkEvidence]:
    return [LandmarkEvidence(d[f"{group}_corners"][i], d[f"{group}_centres"][i], d[f"{group}_confidence"][i],
                             float(dist[i])) for i in range(len(dist))]


CONFIDENCE_RULES = {
    "q02 x0.6": lambda c: np.quantile(c, 0.02) * 0.6,
    "q10 x0.6": lambda c: np.quantile(c, 0.10) * 0.6,
    "median x0.5": lambda c: np.median(c) * 0.5,
}
OOD_RULES = {
    "q99 x1.25": lambda v: np.quantile(v, 0.99) * 1.25,
    "median x1.6": lambda v: np.median(v) * 1.6,
    "median x1.75": lambda v: np.median(v) * 1.75,
    "median x2": lambda v: np.median(v) * 2,
}


def report(d: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    tr = d["train_feats"]
    stored = MeasurabilityThresholds.from_dict(json.loads(str(d["limits"])))
    val_conf = d["val_confidence"].min(axis=1)
    print(f"stored limits: confidence {stored.min_confidence:.3f} ood {stored.ood_distance:.1f}; "
          f"val weakest vertebra q02 {np.quantile(val_conf, .02):.3f} q10 {np.quantile(val_conf, .1):.3f} "
          f"median {np.median(val_conf):.3f}")
    for fit_name, fit in {"160": tr[rng.permutation(len(tr))[:160]], "all": tr}.items():
        g = _gauss(fit)
        dist = {k: g.score(torch.from_numpy(d[f"{k}_feats"])).numpy() for k in ("val", "test", "spondy")}
        print(f"OOD {fit_name} training films: val median {np.median(dist['val']):.1f} max {dist['val'].max():.1f}, "
              f"test median {np.median(dist['test']):.1f}, spondy median {np.median(dist['spondy']):.1f}")
        ev = {k: _evidence(d, k, dist[k]) for k in dist}
        for (cn, crule), (on, orule) in itertools.product(CONFIDENCE_RULES.items(), OOD_RULES.items()):
            limits = replace(stored, min_confidence=float(crule(val_conf)), ood_distance=float(orule(dist["val"])))
            ap = np.mean([not_measured_reason(e, limits) is None for e in ev["test"]])
            sp = np.mean([not_measured_reason(e, limits) is not None for e in ev["spondy"]])
            print(f"   conf {cn:12s} {limits.min_confidence:.3f}  ood {on:12s} {limits.ood_distance:6.3g}  "
                  f"AP measured {ap:.3f}  lumbar/lateral refused {sp:.3f}")


def _stored_and_groups(d: dict[str, np.ndarray]) -> tuple[MeasurabilityThresholds, list[str]]:
    """The checkpoint's stored limits, and the cached film groups (validation first)."""
    stored = MeasurabilityThresholds.from_dict(json.loads(str(d["limits"])))
    return stored, [k for k in ("val", "test", "spondy", "scolio") if f"{k}_feats" in d]


def report_mirror(d: dict[str, np.ndarray]) -> None:
    """The OOD Gaussian fitted with the training films' mirror images too, and films scored with theirs.

    The current limits' rule (1.75 x the validation median) and the stored confidence floor throughout.
    """
    stored, groups = _stored_and_groups(d)
    fits = {"films": d["train_feats"], "films+mirrors": np.concatenate([d["train_feats"], d["train_feats_mirror"]])}
    scores = {"film": lambda a, b: a, "min(film, mirror)": np.minimum, "mean(film, mirror)": lambda a, b: (a + b) / 2}
    print("OOD variants, limit 1.75 x validation median:")
    for (fit_name, fit), (score_name, combine) in itertools.product(fits.items(), scores.items()):
        g = _gauss(fit)
        dist = {k: combine(g.score(torch.from_numpy(d[f"{k}_feats"])).numpy(),
                           g.score(torch.from_numpy(d[f"{k}_feats_mirror"])).numpy()) for k in groups}
        limits = replace(stored, ood_distance=float(np.median(dist["val"]) * 1.75))
        measured = {k: np.array([not_measured_reason(e, limits) is None for e in _evidence(d, k, dist[k])])
                    for k in groups}
        print(f"   fit {fit_name:14s} score {score_name:19s} limit {limits.ood_distance:6.3g}  "
              f"AP measured {measured['test'].sum()}/{len(measured['test'])}  "
              f"lumbar/lateral measured {measured['spondy'].sum()}/{len(measured['spondy'])}"
              + (f"  fraiwan scoliosis measured {measured['scolio'].sum()}/{len(measured['scolio'])}"
                 if "scolio" in measured else ""))


def report_neighbours(d: dict[str, np.ndarray]) -> None:
    """The distance to the Gaussian's centre against the distance to the nearest training films.

    Per rule: films refused by the OOD check alone, and films measured with every check.
    """
    stored, groups = _stored_and_groups(d)
    scorers = {"centre": _gauss(d["train_feats"])}
    scorers.update({f"{k} nearest": NearestFilmsOOD.fit(d["train_feats"], k) for k in (1, 5, 10)})
    scores = {name: {grp: scorer.score(torch.from_numpy(d[f"{grp}_feats"])).numpy() for grp in groups}
              for name, scorer in scorers.items()}
    print("OOD distance to the centre or to the nearest training films (whitened); OOD-refused / measured:")
    for (name, dist), factor in itertools.product(scores.items(), (1.75, 2.0)):
        limits = replace(stored, ood_distance=float(np.median(dist["val"]) * factor))
        line = [f"   {name:10s} x{factor:4.2f}"]
        for grp in groups[1:]:
            ev = _evidence(d, grp, dist[grp])
            refused = int((dist[grp] > limits.ood_distance).sum())
            measured = sum(not_measured_reason(e, limits) is None for e in ev)
            line.append(f"{grp} {refused}/{measured}/{len(ev)}")
        print("  ".join(line))


if __name__ == "__main__":
    main()
