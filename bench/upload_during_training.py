"""Upload-to-answer latency while a training run is busy, on the embedded stack of `make run`.

Issue 12 saw an upload made during a 2-minute training run take 108 s to show its answer: one
embedded worker served both queues. `make run` now starts one worker per queue.

What it does:

1. starts `scripts/run_embedded.sh` (what `make run` starts) with everything of its own under a
   temp dir: SQLite database, media, static files, CELERY_FS_ROOT, demo passwords, on its own
   port; the shipped default model is registered and activated by `migrate`;
2. creates an admin and a clinician; later starts a small training run through the API
   (`--epochs`, `--input-size`; base data from BENCH_DATA);
3. uploads films one at a time as the clinician, through the API, first on the idle stack (the
   baseline), then again once the run is training (status `running`, progress reported); for
   each it measures the seconds from the start of the upload request until the radiograph's
   prediction panel (the fragment the page polls) says the model has finished. A figure counts
   as "during training" only if the run was still running when the answer was shown;
4. cancels the run and stops the stack.

The radiograph page polls its panel every second, so a person sees the answer up to 1 s after
the figure printed here.

Run:  .venv/bin/python bench/upload_during_training.py [--uploads 3] [--port 8105]
Env:  BENCH_DATA (default ../shared/data/fraiwan; synthetic films if absent).
Writes bench/out/upload_during_training.json.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.processes import process_groups_stop  # noqa: E402 - needs the checkout on the path

DATA = Path(os.environ.get("BENCH_DATA", ROOT.parent / "shared" / "data" / "fraiwan"))
if not DATA.exists():
    DATA = Path("/work/shared/data/fraiwan")
PASSWORD = "bench-" + uuid.uuid4().hex


class Client:
    """A tiny HTTP client (stdlib only): a session cookie for pages, a token for the API."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.token = ""

    def request(self, method: str, path: str, *, data: bytes | None = None, headers=None) -> tuple[int, bytes]:
        headers = dict(headers or {})
        if self.token and path.startswith("/api/"):
            headers["Authorization"] = f"Token {self.token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        status, raw = self.request(method, path, data=data, headers={"Content-Type": "application/json"})
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status} {raw[:300]!r}")
        return json.loads(raw) if raw else {}

    def log_in(self, username: str, *, otp_secret: str = "") -> None:
        """A token for the API and, unless the user is an admin (whose pages would also want the
        second factor; the bench drives admins through the API only), a page session."""
        fields = {"username": username, "password": PASSWORD}
        if otp_secret:
            fields["otp_token"] = totp_now(otp_secret)
        form = urllib.parse.urlencode(fields).encode()
        status, raw = self.request("POST", "/api/v1/auth/token/", data=form,
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 200:
            raise RuntimeError(f"token for {username}: {status} {raw[:200]!r}")
        self.token = json.loads(raw)["token"]
        if otp_secret:
            return
        # The page's session, for the panel fragment.
        self.request("GET", "/login/")
        csrf = next(c.value for c in self.jar if c.name == "csrftoken")
        form = urllib.parse.urlencode(
            {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf}
        ).encode()
        self.request("POST", "/login/", data=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Referer": self.base + "/login/"})
        if not any(c.name == "sessionid" for c in self.jar):
            raise RuntimeError(f"session login failed for {username}")

    def upload(self, case_id: int, name: str, content: bytes) -> int:
        boundary = uuid.uuid4().hex
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
        status, raw = self.request("POST", f"/api/v1/cases/{case_id}/radiographs/", data=body,
                                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        if status != 201:
            raise RuntimeError(f"upload: {status} {raw[:300]!r}")
        return json.loads(raw)["radiographs"][0]["id"]


def films(count: int) -> list[tuple[str, bytes]]:
    """Real scoliosis films when the data folder is there (read, never copied); else synthetic."""
    folder = DATA / "scoliosis"
    if folder.is_dir():
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        return [(f"film-{i}{p.suffix.lower()}", p.read_bytes()) for i, p in enumerate(paths[:count])]
    import numpy as np

    from tests.images import png_bytes

    out = []
    for i in range(count):
        rng = np.random.default_rng(i)
        pixels = rng.integers(0, 200, size=(1200, 500), dtype=np.uint8)
        pixels[:, 230:270] = 235
        out.append((f"film-{i}.png", png_bytes(pixels=pixels)))
    return out


def stack_env(tmp: Path, port: int) -> dict[str, str]:
    # Nothing of the caller's database, broker or Django settings leaks into the stack.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    return {
        **clean,
        "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.dev",
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp / "media"),
        "STATIC_ROOT": str(tmp / "static"),
        "CELERY_FS_ROOT": str(tmp / "celery"),
        "EMBEDDED_VAR_DIR": str(tmp / "var"),
        "TRAINING_BASE_DATA_DIR": str(DATA),
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "manage.py", *args], cwd=ROOT,
                          env=env, check=True, capture_output=True, text=True)
    return done.stdout


def totp_now(secret_base32: str) -> str:
    """The current code of a TOTP authenticator (django-otp's own algorithm, 6 digits, 30 s)."""
    import base64

    from django_otp.oath import totp

    return f"{totp(base64.b32decode(secret_base32)):06d}"


def totp_secret(env: dict[str, str], username: str) -> str:
    """Enrol an authenticator for the admin, as `manage.py totp_enrol` does for a person."""
    out = manage(env, "totp_enrol", username)
    return out.split("authenticator app): ", 1)[1].split()[0]


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out waiting for {what}")


def up(client: Client) -> bool:
    try:
        return client.request("GET", "/healthz/")[0] == 200
    except urllib.error.URLError:
        return False  # not listening yet (migrate and collectstatic run first)


def answered(client: Client, radiograph_id: int) -> bool:
    status, raw = client.request("GET", f"/inference/radiographs/{radiograph_id}/prediction/?fragment=1")
    return status == 200 and b'data-finished="true"' in raw


def measure(client: Client, case_id: int, film: tuple[str, bytes], training_status) -> dict:
    """Seconds from the start of the upload request until the panel says the model is done."""
    started = time.monotonic()
    radiograph_id = client.upload(case_id, *film)
    wait_for(lambda: answered(client, radiograph_id), 300, "the answer", every=0.1)
    seconds = time.monotonic() - started
    state = training_status()
    # The machine's 1-minute load average: on a shared machine other work slows the model too.
    load = round(os.getloadavg()[0], 1)
    print(f"upload {radiograph_id}: answer shown after {seconds:.2f} s (training: {state}; load {load})")
    time.sleep(2)
    return {"radiograph": radiograph_id, "seconds": round(seconds, 2), "training_status": state, "load": load}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uploads", type=int, default=3)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8105")))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--input-size", type=int, default=160)
    return parser.parse_args()


def _people(env: dict[str, str], base: str) -> tuple[Client, Client]:
    manage(env, "create_user", "bench-admin", "--role", "admin", "--password", PASSWORD)
    manage(env, "create_user", "bench-clinician", "--role", "clinician", "--password", PASSWORD)
    admin = Client(base)
    admin.log_in("bench-admin", otp_secret=totp_secret(env, "bench-admin"))
    clinician = Client(base)
    clinician.log_in("bench-clinician")
    return admin, clinician


def _uploads(args: argparse.Namespace, admin: Client, clinician: Client) -> list[dict]:
    """Uploads on the idle stack (the baseline), then as many again once a training run trains."""
    results: list[dict] = []
    case = clinician.api("POST", "/api/v1/cases/", {"patient_reference": f"BENCH-{uuid.uuid4().hex[:6]}"})
    all_films = films(2 * args.uploads + 1)
    # The first read waits for the worker's model warm-up: not counted.
    measure(clinician, case["id"], all_films[0], lambda: "idle")
    for film in all_films[1 : args.uploads + 1]:
        results.append(measure(clinician, case["id"], film, lambda: "idle"))
    run = admin.api("POST", "/api/v1/training-runs/", {
        "hyperparameters": {"epochs": args.epochs, "input_size": args.input_size}})
    run_path = f"/api/v1/training-runs/{run['id']}/"
    print(f"training run {run['id']} started (epochs={args.epochs}, input_size={args.input_size})")

    def training_busy() -> dict | None:
        state = admin.api("GET", run_path)
        if state["status"] in ("failed", "succeeded", "cancelled"):
            raise RuntimeError(f"training run ended before the uploads: {state}")
        return state if state["status"] == "running" and state.get("progress") else None

    wait_for(training_busy, 600, "the training run to report progress", every=1.0)
    print("training is running; uploading")
    for film in all_films[args.uploads + 1 :]:
        results.append(measure(clinician, case["id"], film, lambda: admin.api("GET", run_path)["status"]))
    admin.api("POST", f"{run_path}cancel/", {})
    return results


def _summary(results: list[dict], tmp: Path) -> dict:
    during = [r["seconds"] for r in results if r["training_status"] == "running"]
    idle = [r["seconds"] for r in results if r["training_status"] == "idle"]
    return {
        "uploads": results,
        "idle_median_seconds": round(statistics.median(idle), 2) if idle else None,
        "idle_max_seconds": max(idle) if idle else None,
        "during_training": len(during),
        "median_seconds": round(statistics.median(during), 2) if during else None,
        "max_seconds": max(during) if during else None,
        "target_seconds": 5.0,
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "stack_log": str(tmp / "stack.log"),
    }


def main() -> None:
    args = _arguments()
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-training-"))
    env = stack_env(tmp, args.port)
    log = open(tmp / "stack.log", "w")
    # 1. The stack, in its own session so that every process it starts can be stopped at once.
    stack = subprocess.Popen(["bash", "scripts/run_embedded.sh"], cwd=ROOT, env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_for(lambda: up(Client(base)), 300, "the web server")
        # 2. People, then 3. the uploads, idle and during a training run.
        results = _uploads(args, *_people(env, base))
    finally:
        process_groups_stop(stack, timeout=60)
        log.close()
    summary = _summary(results, tmp)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "upload_during_training.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "uploads"}, indent=2))
    if not summary["during_training"]:
        sys.exit("no upload was answered while the training run was still running")

if __name__ == "__main__":
    main()
