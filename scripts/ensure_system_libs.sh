#!/usr/bin/env bash
# System libraries that pip cannot install: WeasyPrint (the printed case report) loads Pango,
# HarfBuzz and fontconfig at run time and needs at least one font. Debian package names;
# installed when missing and we may (root, apt), else a clear message and the rest of the
# platform still installs (only the report needs them). The same list is in the Dockerfile.
set -u
PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libfontconfig1 fonts-dejavu-core"
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $package"
done
if [ -z "$missing" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing system libraries for the PDF report:$missing"
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null) \
        || echo "could not install:$missing (the PDF case report will not work)" >&2
else
    echo "missing system libraries:$missing; install them (apt-get install$missing) for the PDF case report" >&2
fi
exit 0
