#!/usr/bin/env bash
# The deploy tests check deploy/nginx/nginx.conf with a real nginx (`nginx -t`, and run in front of
# a live test server). Install Debian's nginx-light when missing and we may (root, apt); otherwise
# those tests skip with a reason. Nothing is started here: the tests run nginx themselves.
set -u
if command -v nginx >/dev/null && command -v openssl >/dev/null; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing Debian nginx-light for the proxy configuration tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light openssl >/dev/null) \
        || echo "could not install nginx: proxy configuration tests will be skipped" >&2
else
    echo "nginx missing and not root: proxy configuration tests will be skipped" >&2
fi
exit 0
