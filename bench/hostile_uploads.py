"""Hostile uploads against a running web server: memory growth per file, and nothing left behind.

Generates each hostile file itself (bombs, lies in headers, truncations, wrong extensions, a file
over UPLOAD_MAX_BYTES, and the largest legitimate films), starts the web server (gunicorn, one
sync worker, on 127.0.0.1:8102 by default, with its own SQLite database, media and temporary
folders under var/hostile-bench/), uploads each file through the API, samples the resident memory
of the server's process tree every few milliseconds while the request runs, and prints per file:
the HTTP status, the error code and message, the peak RSS growth over the RSS just before the
request, and what the request left behind (radiograph rows, stored files, temporary files).

Each file is sent to a freshly started server after one warm-up upload (a small PNG and DICOM,
so that imports are done), so that no file benefits from memory another one already grew.

    .venv/bin/python bench/hostile_uploads.py [--only NAME ...] [--keep] [--json out.json]
    .venv/bin/python bench/hostile_uploads.py --url http://127.0.0.1:8102 --pid PID \\
        --username U --password P --media DIR     # a server you started yourself

Target: at most 300 MB growth for every file; every file refused or accepted with a clear
message; a refused file leaves no row, no stored file and no temporary file.

Measured (2 cores, gunicorn sync worker, 2026-12-02; issue 10 reported main growing 770 MB on a deflated DICOM and
1.2 GB on the 16-bit PNG): deflate bomb 97 MB (refused while inflating, at the 50 MB cap),
16-bit 49 MP PNG 101 MB (accepted), 70 MP PNG 0.4 MB and 100 MP JPEG 4.6 MB (refused from their
headers), truncated 16-bit PNG 45 MB, 60 MB file 3.9 MB (413 while streaming), the largest films
accepted: native 16-bit 25 MP DICOM 191 MB, RGB 59 MP PNG 228 MB (Pillow holds RGB at 4 bytes a
pixel), RGB 59 MP JPEG 8.6 MB; every other file under 5 MB. Nothing left behind by any refused
file.
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import secrets
import shutil
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.hostile_files import (  # noqa: E402 - needs the checkout on the path
    MB,
    dicom_deflate_bomb,
    dicom_header,
    dicom_uncompressed,
    png_chunk,
    png_claiming,
    png_from_rows,
)

WORK = ROOT / "var" / "hostile-bench"
PYTHON = sys.executable
TARGET_MB = 300.0

# --- hostile files (the writers are tests/hostile_files.py, shared with the upload tests) ------


def png16_49mp() -> bytes:
    """7000x7000 16-bit grey: 0.5 MB on disk, 98 MB of pixels (1.2 GB of growth on main)."""
    width = height = 7000
    ramp = (np.arange(width, dtype=np.uint32) * 9 % 65536).astype(">u2").tobytes()
    return png_from_rows(width, height, bit_depth=16, colour=0, rows=lambda y: ramp, level=9)


def png8_70mp() -> bytes:
    width, height = 10000, 7000
    row = (np.arange(width) % 256).astype(np.uint8).tobytes()
    return png_from_rows(width, height, bit_depth=8, colour=0, rows=lambda y: row, level=9)


def png_rgb_59mp() -> bytes:
    """The largest RGB PNG we accept (just under the 60-megapixel limit)."""
    width, height = 7680, 7680
    row = np.tile(np.array([200, 120, 40], np.uint8), width).tobytes()
    return png_from_rows(width, height, bit_depth=8, colour=2, rows=lambda y: row, level=9)


def png_header_bomb() -> bytes:
    """Header claims 30000x30000 (900 megapixels); a few KB of data."""
    return png_claiming(30000, 30000)


def png_ztxt_bomb() -> bytes:
    """A small PNG with a zTXt chunk that inflates to 512 MB."""
    packer = zlib.compressobj(9)
    block = b"A" * MB
    text = b"".join(packer.compress(block) for _ in range(512)) + packer.flush()
    ztxt = png_chunk(b"zTXt", b"Comment\x00\x00" + text)
    row = bytes(512)
    return png_from_rows(512, 512, bit_depth=8, colour=0, rows=lambda y: row, extra=ztxt)


def png16_truncated() -> bytes:
    data = png16_49mp()
    return data[: len(data) // 2]


def _jpeg(width: int, height: int, mode: str = "L") -> bytes:
    y = (np.arange(height, dtype=np.uint16)[:, None] % 256).astype(np.uint8)
    x = (np.arange(width, dtype=np.uint16)[None, :] % 256).astype(np.uint8)
    grey = y ^ x
    image = Image.fromarray(grey, mode="L")
    if mode == "RGB":
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=30)
    return buffer.getvalue()


def jpeg_100mp() -> bytes:
    return _jpeg(10000, 10000)


def jpeg_rgb_59mp() -> bytes:
    return _jpeg(7680, 7680, mode="RGB")


def jpeg_header_bomb() -> bytes:
    """A baseline JPEG whose frame header claims 65000x65000; the scan is a few bytes."""
    small = _jpeg(64, 64)
    sof = small.index(b"\xff\xc0")
    return small[: sof + 5] + struct.pack(">HH", 65000, 65000) + small[sof + 9 :]


def jpeg_truncated() -> bytes:
    data = jpeg_rgb_59mp()
    return data[: len(data) // 3]


def dicom_deflate_bomb_800mb() -> bytes:
    """Deflated DICOM (1.2.840.10008.1.2.1.99) whose pixel data inflates to 800 MB of zeros."""
    return dicom_deflate_bomb(pixel_bytes=800 * MB, rows=5000, columns=5000)


def dicom_native(rows: int, columns: int, *, pixel_bytes: int | None = None, frames: int = 1) -> bytes:
    """12 bits stored: a ramp, or `pixel_bytes` zeros whatever the header claims."""
    ds = dicom_header(rows, columns, bits_stored=12, frames=frames)
    ds.PatientName = "Bench^Hostile"
    if pixel_bytes is None:
        return dicom_uncompressed(ds, (np.arange(rows * columns, dtype=np.uint32) % 4096).astype("<u2").tobytes())
    return dicom_uncompressed(ds, bytes(pixel_bytes))


def over_limit_file() -> bytes:
    """60 MB that starts like a PNG: refused by size while it streams in."""
    return b"\x89PNG\r\n\x1a\n" + bytes(60 * MB)


def small_png() -> bytes:
    row = (np.arange(256) % 256).astype(np.uint8).tobytes()
    return png_from_rows(256, 320, bit_depth=8, colour=0, rows=lambda y: row)


HOSTILE: dict[str, tuple[str, Callable[[], bytes]]] = {
    "dicom-deflate-bomb-800MB": ("bomb.dcm", dicom_deflate_bomb_800mb),
    "png16-49MP-0.5MB": ("film.png", png16_49mp),
    "png8-70MP": ("film.png", png8_70mp),
    "jpeg-100MP": ("film.jpg", jpeg_100mp),
    "png-header-900MP": ("bomb.png", png_header_bomb),
    "jpeg-header-4225MP": ("bomb.jpg", jpeg_header_bomb),
    "png-ztxt-bomb-512MB": ("text.png", png_ztxt_bomb),
    "png16-truncated": ("cut.png", png16_truncated),
    "jpeg-truncated": ("cut.jpg", jpeg_truncated),
    "dicom-header-3600MP-1KB": ("huge.dcm", lambda: dicom_native(60000, 60000, pixel_bytes=1024)),
    "dicom-header-49MP-1KB": ("lies.dcm", lambda: dicom_native(7000, 7000, pixel_bytes=1024)),
    "dicom-1000-frames": ("frames.dcm", lambda: dicom_native(64, 64, pixel_bytes=64 * 64 * 2, frames=1000)),
    "png-named-dcm": ("film.dcm", small_png),
    "text-named-jpg": ("notes.jpg", lambda: b"Patient notes, not an image\n" * 100),
    "dicom-named-png": ("film.png", lambda: dicom_native(256, 256)),
    "over-UPLOAD_MAX_BYTES-60MB": ("big.png", over_limit_file),
    # The largest legitimate films: accepted, and still within the memory target.
    "dicom-native-25MP-16bit-50MB": ("largest.dcm", lambda: dicom_native(5000, 5000)),
    "jpeg-rgb-59MP": ("largest.jpg", jpeg_rgb_59mp),
    "png-rgb-59MP": ("largest.png", png_rgb_59mp),
}

# --- server ------------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    pid: int | None
    media: Path
    database: Path | None
    temp: Path | None
    process: subprocess.Popen | None = None
    token: str = ""
    case_id: int = 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.dev",
        "DJANGO_DEBUG": "False",
        "DJANGO_SECRET_KEY": "hostile-bench-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{WORK / 'db.sqlite3'}",
        "MEDIA_ROOT": str(WORK / "media"),
        "FILE_UPLOAD_TEMP_DIR": str(WORK / "upload-tmp"),
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FS_ROOT": str(WORK / "celery"),
        "INFERENCE_REGISTER_DEFAULT_ON_MIGRATE": "False",
        "LOG_LEVEL": "WARNING",
    })
    return env


def prepare(port: int) -> tuple[str, str]:
    if WORK.exists():
        shutil.rmtree(WORK)
    for sub in ("media", "upload-tmp", "celery", "files"):
        (WORK / sub).mkdir(parents=True)
    env = _env(port)
    subprocess.run([PYTHON, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    password = secrets.token_urlsafe(16)
    subprocess.run([PYTHON, "manage.py", "create_user", "bench-clinician", "--role", "clinician",
                    "--password", password], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return "bench-clinician", password


def start(port: int) -> Server:
    gunicorn = Path(PYTHON).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "scoliosis_portal.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
         "--timeout", "300", "--log-level", "warning"],
        cwd=ROOT, env=_env(port),
    )
    server = Server(f"http://127.0.0.1:{port}", process.pid, WORK / "media", WORK / "db.sqlite3",
                    WORK / "upload-tmp", process)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if _request(server, "GET", "/healthz/")[0] in (200, 503):
                return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise RuntimeError("the server did not start")


# --- HTTP --------------------------------------------------------------------------------------


def _request(server: Server, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _auth(server: Server) -> dict[str, str]:
    return {"Authorization": f"Token {server.token}"}


def sign_in(server: Server, username: str, password: str) -> None:
    body = urllib.parse.urlencode({"username": username, "password": password}).encode()
    status, data = _request(server, "POST", "/api/v1/auth/token/", body,
                            {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise RuntimeError(f"sign-in failed: {status} {data[:200]!r}")
    server.token = json.loads(data)["token"]


def case_open(server: Server, reference: str) -> int:
    body = urllib.parse.urlencode({"patient_reference": reference, "sex": "F"}).encode()
    status, data = _request(server, "POST", "/api/v1/cases/", body,
                            {**_auth(server), "Content-Type": "application/x-www-form-urlencoded"})
    if status != 201:
        raise RuntimeError(f"case creation failed: {status} {data[:200]!r}")
    return int(json.loads(data)["id"])


def upload(server: Server, case_id: int, name: str, data: bytes) -> tuple[int, bytes]:
    boundary = "hostile" + secrets.token_hex(8)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return _request(server, "POST", f"/api/v1/cases/{case_id}/radiographs/", body,
                    {**_auth(server), "Content-Type": f"multipart/form-data; boundary={boundary}"})


# --- measuring ---------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                stack.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def tree_rss_mb(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Sampler:
    pid: int
    peak: float = 0.0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.pid))
            self.samples += 1
            time.sleep(0.003)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.thread.join()
        self.peak = max(self.peak, tree_rss_mb(self.pid))


def _files(folder: Path | None) -> set[Path]:
    if folder is None or not folder.exists():
        return set()
    return {p for p in folder.rglob("*") if p.is_file()}


def _rows(database: Path | None) -> int | None:
    if database is None:
        return None
    with sqlite3.connect(database) as connection:
        return connection.execute("select count(*) from cases_radiograph").fetchone()[0]


def measure(server: Server, case_id: int, name: str, data: bytes) -> dict:
    media_before, temp_before = _files(server.media), _files(server.temp)
    rows_before = _rows(server.database)
    time.sleep(0.2)
    baseline = tree_rss_mb(server.pid)
    started = time.perf_counter()
    with Sampler(server.pid) as sampler:
        try:
            status, body = upload(server, case_id, name, data)
        except OSError as exc:  # a reset connection is a finding, not a crash of the bench
            status, body = 0, json.dumps({"error": {"code": "connection", "message": str(exc)}}).encode()
    seconds = time.perf_counter() - started
    time.sleep(0.2)
    try:
        error = json.loads(body).get("error", {})
    except ValueError:
        error = {"code": "non-json", "message": body[:200].decode(errors="replace")}
    files = error.get("files") or []
    message = files[0]["message"] if files else error.get("message", "")
    code = files[0]["code"] if files else error.get("code", "")
    rows_after = _rows(server.database)
    return {
        "status": status,
        "code": code or ("accepted" if status == 201 else ""),
        "message": message,
        "baseline_mb": round(baseline, 1),
        "peak_growth_mb": round(sampler.peak - baseline, 1),
        "after_mb": round(tree_rss_mb(server.pid), 1),
        "seconds": round(seconds, 2),
        "rows_added": None if rows_after is None else rows_after - rows_before,
        "files_added": len(_files(server.media) - media_before),
        "temp_files_left": len(_files(server.temp) - temp_before),
        "samples": sampler.samples,
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="names of hostile files to send")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--url", help="a running server (then --pid, --username, --password)")
    parser.add_argument("--pid", type=int, help="the PID of the server's master process")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--media", type=Path, help="the running server's MEDIA_ROOT")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep var/hostile-bench afterwards")
    args = parser.parse_args()
    args.names = args.only or list(HOSTILE)
    unknown = set(args.names) - set(HOSTILE)
    if unknown:
        parser.error(f"unknown: {sorted(unknown)}")
    return args


def _one_file(args: argparse.Namespace, index: int, name: str, credentials: tuple[str, str]) -> dict:
    """Warm the server up with two good uploads, then send the hostile file and measure it."""
    filename, make = HOSTILE[name]
    data = make()
    warm = (small_png(), dicom_native(128, 96))
    if args.url:
        server = Server(args.url, args.pid, args.media, None, None)
    else:
        server = start(args.port)
    try:
        sign_in(server, *credentials)
        warm_case = case_open(server, f"BENCH-WARM-{index}")
        for warm_name, warm_data in zip(("warm.png", "warm.dcm"), warm, strict=True):
            status, body = upload(server, warm_case, warm_name, warm_data)
            if status != 201:
                raise RuntimeError(f"warm-up upload failed: {status} {body[:300]!r}")
        case_id = case_open(server, f"BENCH-{index}")
        return {"bytes": len(data), **measure(server, case_id, filename, data)}
    finally:
        if not args.url:
            server.stop()


def main() -> int:
    args = _arguments()
    credentials = prepare(args.port) if not args.url else (args.username, args.password)
    results: dict[str, dict] = {}
    print(f"{'file':32} {'bytes':>11} {'status':>6} {'growth MB':>9} {'rows':>4} {'files':>5} "
          f"{'tmp':>3}  code: message", flush=True)
    for index, name in enumerate(args.names):
        result = results[name] = _one_file(args, index, name, credentials)
        print(f"{name:32} {result['bytes']:>11,} {result['status']:>6} {result['peak_growth_mb']:>9.1f} "
              f"{result['rows_added'] if result['rows_added'] is not None else '-':>4} "
              f"{result['files_added']:>5} {result['temp_files_left']:>3}  "
              f"{result['code']}: {result['message']}", flush=True)
    worst = max(r["peak_growth_mb"] for r in results.values())
    refused_left = [n for n, r in results.items() if r["status"] != 201
                    and (r["rows_added"] or r["files_added"] or r["temp_files_left"])]
    unclear = [n for n, r in results.items() if r["status"] not in (201, 400, 413) or
               (r["status"] != 201 and not r["message"])]
    print(f"\nworst growth {worst:.1f} MB (target <= {TARGET_MB:.0f}); refused files that left "
          f"something behind: {refused_left or 'none'}; unclear answers: {unclear or 'none'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    if not args.keep and not args.url and WORK.exists():
        shutil.rmtree(WORK)
    return 0 if worst <= TARGET_MB and not refused_left and not unclear else 1

if __name__ == "__main__":
    raise SystemExit(main())
