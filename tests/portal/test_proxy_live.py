"""The compose stack's nginx configuration, run for real in front of a live test server (with its
host names swapped for local ports): body caps, forwarded client address, health listener."""
from __future__ import annotations

import http.client
import json
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"

pytestmark = [
    pytest.mark.skipif(shutil.which("nginx") is None or shutil.which("openssl") is None,
                       reason="nginx or openssl not installed (apt-get install nginx-light openssl)"),
    pytest.mark.django_db(transaction=True),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nginx did not listen on {port}")


@pytest.fixture
def proxy(live_server, tmp_path):
    """(https port, health port) of nginx running deploy/nginx/nginx.conf before the live server."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem")],
                   check=True, capture_output=True)
    https_port, health_port = _free_port(), _free_port()
    upstream = live_server.url.replace("localhost", "127.0.0.1")
    conf = (NGINX_CONF.read_text()
            .replace("/etc/nginx/certs", str(tmp_path))
            .replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
            .replace("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{health_port};")
            .replace("http://web:8000", upstream)
            .replace("pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;"))
    for line in ("ssl_certificate", "listen 127.0.0.1", upstream):
        assert line in conf, f"the substitution for {line!r} no longer matches nginx.conf"
    (tmp_path / "nginx.conf").write_text(conf)
    proc = subprocess.Popen(["nginx", "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(https_port, proc)
        yield https_port, health_port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _https(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    conn.request(method, path, body=body, headers={"Host": "127.0.0.1", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def test_proxy_refuses_big_bodies_except_on_upload_paths(proxy):
    port, _ = proxy
    big = b"x" * (2 * 1024 * 1024)
    status, _ = _https(port, "POST", "/api/v1/auth/token/", big, {"Content-Type": "application/json"})
    assert status == 413
    status, _ = _https(port, "POST", "/login/", big, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 413
    # The upload path lets the body through to the app (which refuses the anonymous caller).
    status, _ = _https(port, "POST", "/api/v1/cases/1/radiographs/", big,
                       {"Content-Type": "multipart/form-data; boundary=x"})
    assert status in (401, 403)


def test_forged_forwarded_for_through_the_proxy_does_not_dodge_the_address_lockout(proxy, settings, clinician):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXY_COUNT = 1
    port, _ = proxy
    for attempt in range(3):
        body = json.dumps({"username": f"someone-{attempt}", "password": "guess"}).encode()
        status, _ = _https(port, "POST", "/api/v1/auth/token/", body,
                           {"Content-Type": "application/json", "X-Forwarded-For": f"10.66.0.{attempt}"})
        # Axes answers the failure that reaches the limit with the lockout itself.
        assert status == (429 if attempt == 2 else 400), attempt
    body = json.dumps({"username": clinician.username, "password": PASSWORD}).encode()
    status, data = _https(port, "POST", "/api/v1/auth/token/", body,
                          {"Content-Type": "application/json", "X-Forwarded-For": "10.66.0.200"})
    assert status == 429 and b'"token"' not in data
    from axes.models import AccessAttempt

    # Recorded under the address nginx saw (this machine), never the forged ones.
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_proxy_health_listener_reaches_the_app(proxy):
    _, health_port = proxy
    conn = http.client.HTTPConnection("127.0.0.1", health_port, timeout=10)
    conn.request("GET", "/healthz/")
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read()) == {"status": "ok"}
