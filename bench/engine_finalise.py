"""Apply cross-validated calibration and OOD margin to a checkpoint trained on all data.

A model trained on every image has no held-out data of its own, so its temperature and OOD
margin come from the cross-validation of the same recipe (bench/engine_cv.py): the temperature
fitted on all out-of-fold logits and the margin that flags ~3 % of held-out spine films. The
CV summary is stored in the metadata too. Re-saving recomputes the integrity digest.

    .venv/bin/python bench/engine_finalise.py models/default.pt bench/out/engine_cv.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference.engine.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402


def main(checkpoint: str, cv_report: str) -> None:
    report = json.loads(Path(cv_report).read_text())
    loaded = load_checkpoint(checkpoint)
    meta = loaded.metadata
    temperature = float(report["temperature_pooled"])
    margin = float(report["ood"]["margin_for_final_model"])
    q = meta["ood"]["train_score_quantiles"][str(meta["ood"]["train_quantile"])]
    threshold = float(q * margin)
    meta["temperature"] = temperature
    meta["temperature_source"] = "fitted on out-of-fold logits of 5-fold CV of the same recipe"
    meta["ood"].update({"margin": margin, "threshold": threshold,
                        "margin_source": "97th percentile of held-out spine scores / train q99, 5-fold CV"})
    meta["cross_validation"] = {k: v for k, v in report.items() if k not in ("oof_predictions", "fold_metrics")}
    ood = dict(loaded.ood_state, threshold=threshold)
    sha = save_checkpoint(checkpoint, loaded.state_dict, ood, meta)
    print(json.dumps({"checkpoint": checkpoint, "sha256": sha, "temperature": temperature,
                      "ood_margin": margin, "ood_threshold": threshold}, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:3])
