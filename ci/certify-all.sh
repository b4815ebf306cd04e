#!/usr/bin/env bash
# Certifies every real FastCGI program ci/install-peers.sh installs, each against the whole
# catalogue: the backends over TCP and unix sockets, the gateways in front of the fake
# backend, and the two backends the harness has no adapter for (Python, Node), given only as
# command lines. One JSON result per implementation in OUT (default build/certify/); the
# findings are written up in docs/certification-results.md. Exit 1 when any check FAILed.
# Usage: ci/certify-all.sh [OUT] [extra certify options, e.g. --cases 'backend/5.*']
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/certify}
shift || true
mkdir -p "$out"
fh=build/fcgi-harness
[ -x "$fh" ] || { ci/install-deps.sh && ci/install-peers.sh && ci/build.sh; } || exit 2
status=0
certify() {  # NAME, then the certify arguments
  local name=$1
  shift
  echo "== $name: fcgi-harness certify $*"
  "$fh" certify "$@" --json "$out/$name.json" --artifacts "$out/evidence/$name" "${extra[@]}" ||
    status=1
}
extra=("$@")
for backend in php-fpm php-cgi uwsgi fcgiwrap go libfcgi perl; do
  certify "backend-$backend" backend --adapter "$backend" --transport both
done
certify backend-python backend --spawn "python3 $PWD/tests/data/generic/fcgi_probe_server.py {addr}" \
  --transport both --label "Python stdlib server (--spawn)"
certify backend-node backend --spawn "node $PWD/tests/data/node/probe_node.js {addr}" \
  --transport both --label "node-fastcgi (--spawn)"
# Gateways: timeouts shortened where the adapter has a knob, so the silent-backend check
# measures the configured timeout instead of a 60 s default.
certify gateway-nginx gateway --adapter nginx --knob fastcgi_read_timeout=5s --transport both
certify gateway-lighttpd gateway --adapter lighttpd --transport both
certify gateway-apache gateway --adapter apache --knob timeout=5 --transport both
certify gateway-apache-fcgid gateway --adapter apache-fcgid --transport both
certify gateway-h2o gateway --adapter h2o --knob fastcgi.timeout.io=5000 --transport both
certify gateway-haproxy gateway --adapter haproxy --transport both
certify gateway-caddy gateway --adapter caddy --transport both
python3 ci/certify-summary.py "$out"/*.json
exit $status
