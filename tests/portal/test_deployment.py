"""The production profile and the compose stack, checked without a docker engine."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.production",
    "DJANGO_SECRET_KEY": "x" * 64 + "-a-long-random-production-secret-for-the-check",
    "DJANGO_ALLOWED_HOSTS": "spine.example.org",
    "DATABASE_URL": "sqlite:////tmp/deploy-check.sqlite3",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_refuses_to_start_without_a_required_setting(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_compose_stack_has_every_production_service_with_health_checks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("proxy", "db", "redis", "minio", "createbucket", "web", "worker", "training-worker", "beat"):
        assert name in services, name
    for name in ("proxy", "db", "redis", "minio", "web"):
        assert "healthcheck" in services[name], name
    assert "migrate" in services["web"]["command"]
    assert "gunicorn" in services["web"]["command"]
    assert "training" in services["training-worker"]["command"]


def test_env_example_documents_every_variable_the_settings_read() -> None:
    settings_src = "".join(p.read_text() for p in (ROOT / "scoliosis_portal" / "settings").glob("*.py"))
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z0-9_]+)"', settings_src))
    # A commented-out line (`#MEDIA_ROOT=`) documents a variable that keeps its default.
    documented = set(re.findall(r"^#?([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read, "no env() calls found: the pattern is out of date"
    assert read <= documented, f"undocumented: {sorted(read - documented)}"


def test_healthz_answers_without_login(client, db) -> None:
    response = client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_embedded_broker_keeps_all_its_files_under_celery_fs_root(tmp_path) -> None:
    """The filesystem transport once wrote its exchange tables to ./control of the working folder."""
    script = (
        "import django; django.setup()\n"
        "from scoliosis_portal.celery import app\n"
        "with app.connection_for_write() as conn:\n"
        "    conn.default_channel.basic_publish(conn.default_channel.prepare_message('x'), 'celery', 'celery')\n"
        "    conn.SimpleQueue('celery').put({'probe': 1})\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.dev", "PYTHONPATH": str(ROOT),
           "CELERY_FS_ROOT": str(tmp_path / "fs")}
    work = tmp_path / "cwd"
    work.mkdir()
    result = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert not (work / "control").exists() and list(work.iterdir()) == []
    assert list((tmp_path / "fs" / "control").glob("*.exchange"))


# --- the compose stack, its proxy and its image (parsed: there is no docker engine here) --------

def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


APP_SERVICES = ("web", "worker", "training-worker", "beat")


def test_the_proxy_is_the_only_published_port_and_serves_tls():
    services = _compose()["services"]
    published = {name: svc["ports"] for name, svc in services.items() if svc.get("ports")}
    assert list(published) == ["proxy"]
    (mapping,) = published["proxy"]
    assert str(mapping).endswith(":443")
    assert "ports" not in services["web"] and services["web"]["expose"] == ["8000"]


def test_the_proxy_reaches_only_the_web_app_and_the_backend_is_internal():
    compose = _compose()
    services = compose["services"]
    assert services["proxy"]["networks"] == ["edge"]
    assert set(services["web"]["networks"]) == {"edge", "backend"}
    for name in ("db", "redis", "minio", "worker", "training-worker", "beat"):
        assert services[name]["networks"] == ["backend"], name
    assert compose["networks"]["backend"]["internal"] is True


def test_every_image_tag_is_pinned():
    services = _compose()["services"]
    for name, svc in services.items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"
    base = re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base


def test_app_containers_use_their_own_object_store_keys_not_minio_root():
    services = _compose()["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert "MINIO_APP_ACCESS_KEY" in env["AWS_ACCESS_KEY_ID"], name
        assert "MINIO_APP_SECRET_KEY" in env["AWS_SECRET_ACCESS_KEY"], name
        assert "MINIO_ROOT" not in env["AWS_ACCESS_KEY_ID"] + env["AWS_SECRET_ACCESS_KEY"], name
        # env_file .env also holds the root keys: blanked in the app containers.
        assert env["MINIO_ROOT_USER"] == "" and env["MINIO_ROOT_PASSWORD"] == "", name
    init = services["createbucket"]
    assert init["image"].startswith("minio/mc:")
    script = (ROOT / "deploy" / "minio" / "create-bucket.sh").read_text()
    for step in ("mc mb", "mc admin user add", "mc admin policy create", "mc admin policy attach",
                 "mc anonymous set none"):
        assert step in script, step
    policy = json.loads((ROOT / "deploy" / "minio" / "portal-policy.json").read_text())
    resources = {r for statement in policy["Statement"] for r in statement["Resource"]}
    assert resources == {"arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*"}
    actions = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert not any(a.startswith("admin:") or a == "s3:*" for a in actions)


def test_web_health_check_needs_no_allowed_host_of_its_own():
    health = _compose()["services"]["web"]["healthcheck"]["test"]
    assert "http://localhost:8000/healthz/" in health


@pytest.mark.django_db
def test_health_is_answered_whatever_allowed_hosts_holds(settings, client):
    settings.ALLOWED_HOSTS = ["spine.example-hospital.org"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz/", HTTP_HOST="localhost:8000").status_code == 200
    assert client.get("/login/", HTTP_HOST="localhost:8000").status_code == 400


def test_image_code_is_owned_by_root_and_the_app_runs_unprivileged():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "--chown" not in dockerfile  # COPY leaves the code owned by root
    chowns = re.findall(r"chown\s+(?:-\w+\s+)*\S+\s+(\S+)", dockerfile)
    assert chowns == ["/app/var"]
    # collectstatic runs before the switch to the unprivileged user.
    assert dockerfile.index("collectstatic") < dockerfile.rindex("USER ")


# --- nginx ----------------------------------------------------------------------------------------

NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"


def test_nginx_caps_bodies_small_except_on_upload_paths():
    conf = NGINX_CONF.read_text()
    assert re.search(r"^\s{4}client_max_body_size 1m;", conf, re.M)
    upload = re.search(r"location ~ (\S+) \{([^}]*)\}", conf)
    pattern, body = upload.group(1), upload.group(2)
    assert re.search(r"client_max_body_size \d+m;", body)
    from django.urls import reverse

    for url in (reverse("cases:radiograph_upload", args=[12]), reverse("cases_api:radiograph_upload", args=[12])):
        assert re.match(pattern, url), url
    for url in ("/login/", "/api/v1/auth/token/", "/api/v1/cases/", "/cases/12/edit/"):
        assert not re.match(pattern, url), url


def test_nginx_sets_the_forwarded_headers_itself():
    conf = NGINX_CONF.read_text()
    assert "proxy_set_header X-Forwarded-Proto https;" in conf
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf
    assert "listen 443 ssl" in conf and "ssl_certificate /etc/nginx/certs/fullchain.pem;" in conf


@pytest.mark.skipif(shutil.which("nginx") is None or shutil.which("openssl") is None,
                    reason="nginx or openssl not installed (apt-get install nginx-light openssl)")
def test_nginx_config_passes_nginx_t(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem")],
                   check=True, capture_output=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.read_text().replace("/etc/nginx/certs", str(tmp_path)))
    result = subprocess.run(["nginx", "-t", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- .env.example ---------------------------------------------------------------------------------

def _env_example() -> dict[str, str]:
    import environ

    class ExampleEnv(environ.Env):
        ENVIRON: dict[str, str] = {}

    ExampleEnv.read_env(str(ROOT / ".env.example"))
    return dict(ExampleEnv.ENVIRON)


def test_env_example_values_are_values_not_comments():
    values = _env_example()
    assert values, "nothing parsed"
    for key, value in values.items():
        assert "#" not in value, f"{key}={value!r}"
        assert value == value.strip(), key


def test_env_example_with_its_secrets_filled_starts_production_with_those_values(tmp_path):
    values = _env_example()
    secret = "s" * 20 + "-filled-in-by-the-operator-" + "0123456789abcdef"
    filled = {**values, "DJANGO_SECRET_KEY": secret, "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
              "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
              "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.production"}
    script = ("from django.conf import settings as s; import json; print(json.dumps([s.SECRET_KEY, "
              "s.AXES_FAILURE_LIMIT, s.UPLOAD_MAX_BYTES, s.ALLOWED_HOSTS, s.SESSION_COOKIE_AGE, s.DEBUG]))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env={**clean, **filled,
                            "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [secret, 5, 52428800, ["localhost", "127.0.0.1"], 8 * 3600, False]


# --- starting production ----------------------------------------------------------------------------

@pytest.mark.parametrize("secret", ["", "short", "x" * 64])
def test_production_refuses_an_empty_or_weak_secret_key(secret):
    result = _manage("check", env={**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is empty or too weak" in result.stderr


def _start_wsgi(static_root: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    return subprocess.run([sys.executable, "-c", "import scoliosis_portal.wsgi"], cwd=ROOT,
                          env={**clean, **PRODUCTION_ENV, "STATIC_ROOT": str(static_root)},
                          capture_output=True, text=True, timeout=120)


def test_production_refuses_to_start_without_collected_static_files(tmp_path):
    result = _start_wsgi(tmp_path)
    assert result.returncode != 0
    assert "Static files are missing" in result.stderr and "collectstatic" in result.stderr


def test_production_starts_once_static_files_are_collected(tmp_path):
    (tmp_path / "staticfiles.json").write_text(json.dumps({"paths": {}, "version": "1.1", "hash": ""}))
    result = _start_wsgi(tmp_path)
    assert result.returncode == 0, result.stderr


def test_embedded_profile_serves_pages_and_static_files_with_debug_off_before_collectstatic(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "from django.templatetags.static import static\n"
        "c = Client(HTTP_HOST='127.0.0.1')\n"
        "page = c.get('/login/')\n"
        "css = c.get(static('css/portal.css'))\n"
        "print(page.status_code, css.status_code, b''.join(css.streaming_content)[:1] != b'')\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "CELERY_"))}
    env = {**clean, "DJANGO_SETTINGS_MODULE": "scoliosis_portal.settings.dev", "DJANGO_DEBUG": "False",
           "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "STATIC_ROOT": str(tmp_path / "empty-static"),
           "CELERY_FS_ROOT": str(tmp_path / "celery"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "200", "True"]
