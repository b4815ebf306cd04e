#!/usr/bin/env bash
# Installs the real FastCGI peers (gateways, backends, observers) that are missing: Debian 12
# package names from docs/reference real-peers.md §0. Idempotent and quiet when all is there.
# Needs root (or sudo) to install.
set -euo pipefail
# shellcheck source=ci/apt-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"

packages=(
  # gateways
  nginx-light lighttpd apache2 libapache2-mod-fcgid h2o haproxy caddy apache2-utils
  # backends: php-fpm -> php8.2-fpm (php-fpm8.2), php-cgi -> php8.2-cgi (php-cgi8.2)
  php-fpm php-cgi uwsgi uwsgi-plugin-python3 fcgiwrap spawn-fcgi
  libfcgi-dev libfcgi-bin libfcgi-perl golang-go
  # a FastCGI backend the harness has no adapter for (certified as a command line)
  node-fastcgi
  # observers
  tcpdump strace tshark
  # the HTML report's test in a real browser (tests/report_browser_test.py)
  chromium python3-websocket
)

apt_find_missing "${packages[@]}"
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing peers: ${missing[*]}"
apt_prepare

# Packaged services must not start (they would take ports 80/9000 and outlive the run); the
# image's policy-rc.d does that today, but CI must not rely on it (real-peers.md §0).
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  added_policy=1
fi
cleanup() { [ -z "$added_policy" ] || $SUDO rm -f "$policy"; }
trap cleanup EXIT

$SUDO apt-get update -qq
# debconf's "delaying package configuration" notice (no apt-utils) is noise, not an error.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  2> >(grep -v '^debconf: delaying package configuration' >&2)
