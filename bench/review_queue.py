"""Review queue at scale: the queue API and page over 30,000 read radiographs.

    .venv/bin/python bench/review_queue.py [--requests 100] [--port 8766]

1. Reuses bench/platform_list.py's database `scoliosis_bench` (10,000 cases, 30,000 radiographs),
   and adds (once) a model version, a succeeded prediction for every radiograph (labels,
   confidences and 3 % OOD flags drawn with a fixed seed) and reads by three reviewers on a
   third of them, some disagreeing.
2. Starts gunicorn as platform_list.py does and times, as a reviewer: GET /api/v1/review-queue/
   (first page, most uncertain first), the same filtered by predicted label, the queue page,
   and GET /api/v1/radiographs/{id}/ for one item; as an admin, the agreement page.
3. Counts SQL queries per request at this size and with one item in the queue.
Writes bench/out/review_queue.json.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import platform_list as base  # noqa: E402

N_REVIEWERS = 3


def seed_reads(users: dict) -> dict:
    import numpy as np
    from django.contrib.auth import get_user_model

    from cases.models import Radiograph
    from cases.services import roles_ensure
    from inference.models import Prediction, PredictionStatus
    from registry.models import ModelVersion
    from registry.services import model_version_register
    from reviews.models import Review

    groups = roles_ensure()
    User = get_user_model()
    reviewers = []
    for i in range(N_REVIEWERS):
        user, _ = User.objects.get_or_create(username=f"bench-reviewer-{i}")
        user.groups.add(groups["reviewer"])
        reviewers.append(user)
    version = ModelVersion.objects.first()
    if version is None:
        version, _ = model_version_register(data=(base.REPO / "models" / "default.pt").read_bytes(), name="bench")
    if not Prediction.objects.exists():
        rng = np.random.default_rng(0)
        labels = ["normal", "scoliosis", "spondylolisthesis"]
        ids = list(Radiograph.objects.order_by("pk").values_list("pk", flat=True))
        predictions = []
        for pk in ids:
            probs = rng.dirichlet([0.3, 0.3, 0.3])
            best = int(probs.argmax())
            predictions.append(Prediction(
                radiograph_id=pk, model_version=version, status=PredictionStatus.SUCCEEDED,
                label=labels[best], probabilities=dict(zip(labels, probs.tolist(), strict=True)),
                confidence=float(probs[best]), ood_score=float(rng.uniform(0, 1.3)),
                out_of_distribution=bool(rng.random() < 0.03),
            ))
        Prediction.objects.bulk_create(predictions, batch_size=5000)
        reviews = []
        for index, pk in enumerate(ids[::3]):
            for r, reviewer in enumerate(reviewers[: 1 + index % N_REVIEWERS]):
                label = labels[(index + (r if index % 7 == 0 else 0)) % 3]  # some disagree
                reviews.append(Review(radiograph_id=pk, reviewer=reviewer, label=label))
        Review.objects.bulk_create(reviews, batch_size=5000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "reviewer": reviewers[-1],
        "predictions": Prediction.objects.count(),
        "reviews": Review.objects.count(),
        "radiograph_id": Radiograph.objects.order_by("pk").values_list("pk", flat=True).first(),
    }


def query_counts(users: dict, radiograph_id: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    counts = {}
    api = Client(HTTP_HOST="127.0.0.1")
    page = Client(HTTP_HOST="127.0.0.1")
    page.force_login(users["reviewer"])
    auth = {"HTTP_AUTHORIZATION": f"Token {base.token(users['reviewer'])}"}
    for name, client, path, headers in (
        ("api/review-queue", api, "/api/v1/review-queue/", auth),
        ("page/review-queue", page, "/inference/review/", {}),
        ("api/radiograph", api, f"/api/v1/radiographs/{radiograph_id}/", auth),
    ):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path, **headers)
        assert response.status_code == 200, (path, response.status_code)
        counts[name] = len(queries)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()

    base.setup_django()
    t0 = time.perf_counter()
    users = base.seed()
    reads = seed_reads(users)
    users["reviewer"] = reads["reviewer"]
    print(f"data: {users['radiographs']} radiographs, {reads['predictions']} predictions, "
          f"{reads['reviews']} reads (seeded/checked in {time.perf_counter() - t0:.1f}s)")
    results: dict = {"radiographs": users["radiographs"], "predictions": reads["predictions"],
                     "reviews": reads["reviews"]}
    results["queries_per_request"] = query_counts(users, reads["radiograph_id"])
    print("queries per request:", results["queries_per_request"])

    server = base.start_server(args.port)
    try:
        reviewer_api = {"Authorization": f"Token {base.token(users['reviewer'])}"}
        reviewer_page = {"Cookie": base.session_cookie(users["reviewer"])}
        admin_page = {"Cookie": base.session_cookie(users["admin"])}
        latency = {
            "reviewer/api/review-queue": base.timed(args.port, "/api/v1/review-queue/", reviewer_api, args.requests),
            "reviewer/api/review-queue?label": base.timed(
                args.port, "/api/v1/review-queue/?predicted_label=spondylolisthesis", reviewer_api, args.requests),
            "reviewer/page/review-queue": base.timed(args.port, "/inference/review/", reviewer_page, args.requests),
            "reviewer/api/radiograph": base.timed(
                args.port, f"/api/v1/radiographs/{reads['radiograph_id']}/", reviewer_api, args.requests),
            "admin/page/agreement": base.timed(args.port, "/inference/review/agreement/", admin_page, args.requests // 4),
        }
        results["latency"] = latency
        for key, value in latency.items():
            print(f"{key:34s} median {value['median_ms']:7.1f} ms   p95 {value['p95_ms']:7.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=30)
    base.write_report("review_queue", results)


if __name__ == "__main__":
    main()
