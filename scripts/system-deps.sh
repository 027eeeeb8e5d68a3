#!/usr/bin/env bash
# Installs the system packages Vigil's media parts need (ffmpeg; chromium for the browser tests) when
# they are missing. Debian/Ubuntu with apt-get, as root. Prints a clear message where it can't.
set -euo pipefail

want=()
command -v ffmpeg >/dev/null 2>&1 || want+=(ffmpeg)
if [ "${VIGIL_NEED_BROWSER:-1}" = 1 ] && ! [ -x /usr/bin/chromium ]; then want+=(chromium); fi
[ ${#want[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "vigil: please install: ${want[*]} (no apt-get on this machine)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "vigil: please install: ${want[*]} (run 'sudo apt-get install ${want[*]}', or this script as root)" >&2
  exit 1
fi
echo "vigil: installing ${want[*]} with apt-get ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" fonts-dejavu-core >/dev/null
