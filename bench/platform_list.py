"""Platform benchmark: case list speed at 10,000 cases / 30,000 radiographs, query counts, and
20 concurrent 2 MB uploads through a real server.

    .venv/bin/python bench/platform_list.py [--requests 200] [--port 8765]

1. Creates (once) the PostgreSQL database `scoliosis_bench` and fills it with bulk_create.
2. Starts gunicorn on 127.0.0.1 with production-like settings (bench/platform_settings.py).
3. Times GET /api/v1/cases/ and GET / (the case list page) as an admin (sees all 10,000) and
   as a clinician (sees their 500): median and p95 over N sequential requests.
4. Counts SQL queries per list request at 10,000 rows and at 1 row (in-process).
5. Sends 20 uploads of distinct ~2 MB PNGs at once to one case and checks every one is stored
   (row, file, same sha256 as sent). Writes bench/out/platform_list.json.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
N_CASES, N_RADIOGRAPHS_PER_CASE, N_CLINICIANS = 10_000, 3, 20
DB_NAME = "scoliosis_bench"


def setup_django() -> None:
    sys.path[:0] = [str(REPO), str(BENCH)]
    os.environ["DJANGO_SETTINGS_MODULE"] = "platform_settings"
    os.environ.setdefault("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}")
    import psycopg

    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", [DB_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _seed_cases(clinicians: list) -> None:
    """Cases up to N_CASES, each with N_RADIOGRAPHS_PER_CASE rows sharing one stored image."""
    import numpy as np
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from cases.models import Case, ImageFormat, Radiograph, Sex
    from cases.services import thumbnail_name_for
    from tests.images import png_bytes

    image = png_bytes(pixels=np.full((128, 96), 128, np.uint8))
    image_name = default_storage.save("radiographs/bench-shared.png", ContentFile(image))
    default_storage.save(thumbnail_name_for(image_name), ContentFile(image))
    sexes = [Sex.FEMALE, Sex.MALE]
    cases = Case.objects.bulk_create(
        [
            Case(
                owner=clinicians[i % N_CLINICIANS],
                patient_reference=f"MRN-{i:06d}",
                sex=sexes[i % 2],
                birth_year=1990 + i % 25,
                notes="bench",
            )
            for i in range(N_CASES - Case.objects.count())
        ],
        batch_size=2000,
    )
    Radiograph.objects.bulk_create(
        [
            Radiograph(
                case=case,
                image=image_name,
                source_format=ImageFormat.PNG,
                content_type="image/png",
                sha256=hashlib.sha256(f"{case.pk}-{k}-{uuid.uuid4()}".encode()).hexdigest(),
                size_bytes=len(image),
                width=96,
                height=128,
                uploaded_by=case.owner,
            )
            for case in cases
            for k in range(N_RADIOGRAPHS_PER_CASE)
        ],
        batch_size=5000,
    )


def seed() -> dict:
    """1 admin, 20 clinicians, 10,000 cases, 30,000 radiographs (idempotent)."""
    from django.contrib.auth import get_user_model

    from cases.models import Case, Radiograph
    from cases.services import roles_ensure

    User = get_user_model()
    groups = roles_ensure()
    admin, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    admin.groups.add(groups["admin"])
    clinicians = []
    for i in range(N_CLINICIANS):
        user, _ = User.objects.get_or_create(username=f"bench-clin-{i:02d}")
        user.groups.add(groups["clinician"])
        clinicians.append(user)
    if Case.objects.count() < N_CASES:
        _seed_cases(clinicians)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "admin": admin,
        "clinician": clinicians[0],
        "cases": Case.objects.count(),
        "radiographs": Radiograph.objects.count(),
    }


def session_cookie(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp import DEVICE_ID_SESSION_KEY

    from accounts.selectors import second_factor_required
    from tests.signin import totp_device_for

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    if second_factor_required(user):  # an admin's session also carries its verified device
        session[DEVICE_ID_SESSION_KEY] = totp_device_for(user).persistent_id
    session.create()
    return f"sessionid={session.session_key}"


_TOKENS: dict[int, str] = {}


def token(user) -> str:
    """An API token as the client would hold it (admins' tokens are issued after their one-time
    code; the bench stands in for that step)."""
    from accounts.selectors import second_factor_required
    from accounts.services import api_token_issue

    if user.pk not in _TOKENS:
        _TOKENS[user.pk] = api_token_issue(user=user, second_factor=second_factor_required(user))[1]
    return _TOKENS[user.pk]


def start_server(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "platform_settings",
        "PYTHONPATH": f"{REPO}:{BENCH}",
    }
    server = subprocess.Popen(
        [
            str(REPO / ".venv" / "bin" / "gunicorn"), "scoliosis_portal.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "3", "--threads", "4",
            "--worker-class", "gthread", "--timeout", "120", "--log-level", "warning",
        ],
        cwd=REPO,
        env=env,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            status, _ = request(port, "GET", "/healthz/")
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise RuntimeError("gunicorn did not start")


def request(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def timed(port: int, path: str, headers: dict, n: int) -> dict:
    for _ in range(10):  # warm up workers and connections
        request(port, "GET", path, headers)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        status, _ = request(port, "GET", path, headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert status == 200, (path, status)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[int(0.95 * len(samples)) - 1], 1),
        "max_ms": round(samples[-1], 1),
        "n": n,
    }


def query_counts(users: dict) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from tests.signin import sign_in

    counts = {}
    for persona in ("admin", "clinician"):
        client = sign_in(Client(HTTP_HOST="127.0.0.1"), users[persona])
        for label, suffix in (("all_rows", ""), ("one_row", "?search=MRN-000000")):
            for kind, path in (("api", "/api/v1/cases/"), ("page", "/")):
                if kind == "api":
                    headers = {"HTTP_AUTHORIZATION": f"Token {token(users[persona])}"}
                    c = Client(HTTP_HOST="127.0.0.1")
                else:
                    headers, c = {}, client
                with CaptureQueriesContext(connection) as queries:
                    response = c.get(path + suffix, **headers)
                assert response.status_code == 200, (path, response.status_code)
                counts[f"{persona}/{kind}/{label}"] = len(queries)
    return counts


def png_2mb(seed: int) -> bytes:
    import numpy as np

    from tests.images import png_bytes

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(1400, 1450), dtype=np.uint8)  # noise: ~2 MB as PNG
    return png_bytes(pixels=pixels, compress_level=1)


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    parts = []
    for name, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def concurrent_uploads(port: int, users: dict, n: int = 20) -> dict:
    from cases.models import Case, Radiograph

    clinician = users["clinician"]
    case = Case.objects.filter(owner=clinician).order_by("id").first()
    before = Radiograph.objects.filter(case=case).count()
    images = [png_2mb(seed=int(time.time()) * 100 + i) for i in range(n)]
    auth = {"Authorization": f"Token {token(clinician)}"}

    def send(i: int):
        body, content_type = multipart([(f"bench-{i}.png", images[i])])
        start = time.perf_counter()
        status, payload = request(
            port, "POST", f"/api/v1/cases/{case.pk}/radiographs/",
            {**auth, "Content-Type": content_type}, body,
        )
        return status, json.loads(payload), (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(send, range(n)))
    wall = time.perf_counter() - start
    statuses = [status for status, _, _ in results]
    ids = [body["radiographs"][0]["id"] for status, body, _ in results if status == 201]
    sent = {hashlib.sha256(image).hexdigest() for image in images}
    verified = 0
    for radiograph_id in ids:
        stored = Radiograph.objects.get(pk=radiograph_id)
        with stored.image.open("rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        # The file stored for an upload is its exact bytes, and it is one of the files sent.
        verified += digest == stored.sha256 and stored.sha256 in sent
    return {
        "uploads": n,
        "size_bytes_each": [len(image) for image in images][:1],
        "created_201": statuses.count(201),
        "statuses": sorted(set(statuses)),
        "rows_added": Radiograph.objects.filter(case=case).count() - before,
        "stored_and_hash_verified": verified,
        "wall_s": round(wall, 2),
        "per_upload_ms_median": round(statistics.median(ms for *_, ms in results), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    setup_django()
    t0 = time.perf_counter()
    users = seed()
    print(f"data: {users['cases']} cases, {users['radiographs']} radiographs "
          f"(seeded/checked in {time.perf_counter() - t0:.1f}s)")
    results: dict = {"cases": users["cases"], "radiographs": users["radiographs"]}
    results["queries_per_request"] = query_counts(users)
    print("queries per list request:", results["queries_per_request"])

    server = start_server(args.port)
    try:
        latency = {}
        for persona in ("admin", "clinician"):
            api_headers = {"Authorization": f"Token {token(users[persona])}"}
            page_headers = {"Cookie": session_cookie(users[persona])}
            latency[f"{persona}/api"] = timed(args.port, "/api/v1/cases/", api_headers, args.requests)
            latency[f"{persona}/page"] = timed(args.port, "/", page_headers, args.requests)
            latency[f"{persona}/api_search"] = timed(
                args.port, "/api/v1/cases/?search=MRN-00004&sex=F", api_headers, args.requests // 2
            )
            latency[f"{persona}/page_last"] = timed(
                args.port, "/?page=last", page_headers, args.requests // 2
            )
        results["latency"] = latency
        for key, value in latency.items():
            print(f"{key:22s} median {value['median_ms']:6.1f} ms   p95 {value['p95_ms']:6.1f} ms")
        results["uploads"] = concurrent_uploads(args.port, users)
        print("concurrent uploads:", results["uploads"])
    finally:
        server.terminate()
        server.wait(timeout=30)
    write_report("platform_list", results)


def write_report(name: str, results: dict) -> None:
    out = BENCH / "out" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
