"""Pool the per-fold reports of ``bench/landmarks_cv.py`` (each fold may come from its own run and
``--out`` folder) into the cross-validation figures: per fold, the mean over folds, and the pooled
shares (films counted over all folds, so a small fold weighs less).

    .venv/bin/python bench/landmarks_cv_summary.py var/lm_f0/report.json var/lm_f1w/report.json ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

PER_FOLD = [
    ("smape_3_angles_pct", "SMAPE, 3 angles (%)", 1),
    ("largest_mae_deg", "MAE largest angle (deg)", 2),
    ("largest_mae_deg_without_label_errors", "same, without reference label errors (deg)", 2),
    ("largest_median_abs_err_deg", "median abs. error (deg)", 2),
    ("recall_ge10", "recall >= 10 deg", 3),
    ("measured_share", "AP films measured", 3),
    ("spondylolisthesis_not_measured_share", "lumbar/lateral not measured", 3),
    ("scoliosis_measured_ge10_share", "fraiwan scoliosis >= 10 deg", 3),
    ("median_ms_2_threads_with_overlay", "ms per film, 2 threads", 0),
    ("extra_rss_mb_loaded_and_one_film", "extra RSS (MB)", 0),
]


def folds_from(paths: list[Path]) -> dict[int, dict]:
    folds: dict[int, dict] = {}
    for path in paths:
        for fold, report in json.loads(path.read_text()).items():
            folds[int(fold)] = report
    return dict(sorted(folds.items()))


def pooled(folds: dict[int, dict]) -> dict[str, float]:
    """Shares over all films of all folds; the MAE weighted by each fold's measured films."""
    films = np.array([r["films"] for r in folds.values()], dtype=float)
    measured = np.array([r["measured_share"] for r in folds.values()]) * films
    big = films - np.array([r["n_lt10"] for r in folds.values()])
    called = np.array([r["recall_ge10"] for r in folds.values()]) * big
    mae = np.array([r["largest_mae_deg"] for r in folds.values()])
    clean = measured - np.array([r.get("label_errors_measured", 0) for r in folds.values()])
    clean_mae = np.array([r.get("largest_mae_deg_without_label_errors", np.nan) for r in folds.values()], dtype=float)
    refused = np.array([r["spondylolisthesis_not_measured_share"] for r in folds.values()])
    return {
        "films": int(films.sum()),
        "largest_mae_deg_without_label_errors": float(np.nansum(clean_mae * clean) / clean.sum()),
        "spondylolisthesis_not_measured_share": float(refused.mean()),  # the same 63 films per fold
        "measured_share": float(measured.sum() / films.sum()),
        "recall_ge10": float(called.sum() / big.sum()),
        "largest_mae_deg": float((mae * measured).sum() / measured.sum()),
        "films_ge10": int(big.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", type=Path, nargs="+")
    args = parser.parse_args()
    folds = folds_from(args.reports)
    print("| measure | " + " | ".join(f"fold {k} ({r['films']} films)" for k, r in folds.items()) + " | mean |")
    print("| --- |" + " --- |" * (len(folds) + 1))
    for key, words, digits in PER_FOLD:
        values = [r.get(key) for r in folds.values()]
        known = [v for v in values if v is not None]
        cells = [f"{v:.{digits}f}" if v is not None else "-" for v in values]
        cells.append(f"{np.mean(known):.{digits}f}" if known else "-")
        print(f"| {words} | " + " | ".join(cells) + " |")
    print(json.dumps({"folds": list(folds), "pooled": pooled(folds)}))


if __name__ == "__main__":
    main()
