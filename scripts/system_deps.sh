#!/bin/sh
# Install the system packages the project uses when they are missing and we may (root or
# password-less sudo): ffmpeg (musdb/museval need ffmpeg and ffprobe on PATH even for WAV data)
# and chromium + chromium-driver (the headless browser test of the listening page). Otherwise say what is missing;
# the tests that need them skip and say why.
missing=""
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing="$missing ffmpeg"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else
  echo "note: missing system packages:$missing (install them with apt-get; dependent tests will skip)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: missing system packages:$missing and no apt-get here; dependent tests will skip"
  exit 0
fi
echo "installing system packages:$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -qq $missing >/dev/null 2>&1 || {
  $sudo apt-get update -qq >/dev/null 2>&1
  $sudo apt-get install -y -qq $missing >/dev/null 2>&1 || echo "note: could not install$missing; dependent tests will skip"
}
exit 0
