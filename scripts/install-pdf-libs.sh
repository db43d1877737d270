#!/usr/bin/env bash
# Installs Debian's libraries for PDF output (WeasyPrint lays out with pango) and poppler's pdftoppm,
# which the tests use to turn a rendered PDF into PNG pages. Nothing is downloaded outside Debian's packages.
set -euo pipefail
PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "Missing for PDF output: run 'sudo apt-get install -y ${missing[*]}'." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q "${missing[@]}" >/dev/null
echo "installed ${missing[*]}"
