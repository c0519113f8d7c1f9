#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (never a browser that a test tool downloads).
# Install it when missing and we may (root, apt); otherwise the browser tests skip with a reason.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing Debian chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "could not install chromium: browser tests will be skipped" >&2
else
    echo "chromium missing and not root: browser tests will be skipped" >&2
fi
exit 0
