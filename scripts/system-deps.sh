#!/bin/sh
# System packages the tests need beyond Python: Debian's chromium (real-browser dashboard tests) and a
# CJK font (Chinese text in rendered charts and PDF bulletins), Pango for WeasyPrint and poppler-utils (PDF
# text and page images in the report tests). Installed with apt when missing.
set -eu
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium chromium-driver"
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need="$need fonts-noto-cjk fontconfig"
# Bulletins: WeasyPrint lays out with Pango (HTML → PDF); poppler-utils renders and reads PDFs in the tests.
ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so.0" || need="$need libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"
command -v pdftoppm >/dev/null 2>&1 || need="$need poppler-utils"
[ -z "$need" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "system-deps: please install:$need" >&2; exit 1
    fi
else
    SUDO=""
fi
echo "system-deps: installing$need"
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
