#!/bin/sh
# System packages beyond Python, installed with apt when missing.
#   sh scripts/system-deps.sh runtime  — what hcp itself needs: a CJK font (Chinese in charts and PDF
#                                        bulletins) and Pango for WeasyPrint (HTML → PDF)
#   sh scripts/system-deps.sh test     — the above, plus Debian's chromium + chromedriver (real-browser
#                                        dashboard tests) and poppler-utils (PDF text and page images)
set -eu
what="${1:-test}"
need=""
if [ "$what" = "test" ]; then
    command -v chromium >/dev/null 2>&1 || need="$need chromium chromium-driver"
    command -v pdftoppm >/dev/null 2>&1 || need="$need poppler-utils"
fi
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need="$need fonts-noto-cjk fontconfig"
ldconfig -p 2>/dev/null | grep -q "libpangoft2-1.0.so.0" || need="$need libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0"
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
