# shellcheck shell=bash
# Sourced by ci/install-deps.sh and ci/install-peers.sh (not run on its own): which Debian
# packages are missing, and how to run apt for them. Prints nothing by itself.

# apt_find_missing PACKAGE...: sets the array `missing` to the packages dpkg does not list as
# installed, in the order given (empty when all are there).
apt_find_missing() {
  missing=()
  local p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
      missing+=("$p")
    fi
  done
}

# apt_prepare: SUDO is "sudo" unless we are root already, and apt asks no questions.
# shellcheck disable=SC2034  # SUDO is for the sourcing script: $SUDO apt-get ...
apt_prepare() {
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
}
