"""HTML bulletin → PDF with WeasyPrint, the CJK font embedded (subset) in the file.

WeasyPrint lays the page out with Pango/HarfBuzz and finds fonts through fontconfig, so the Noto CJK
OpenType collection installed by ``scripts/system-deps.sh`` (fonts-noto-cjk) is shaped and embedded as a
CID-keyed subset with a ToUnicode map: the Chinese prints on any machine and can be searched and
extracted. The inline SVG charts are drawn by WeasyPrint too, with the same font. The document's dates
come from the HTML (``dcterms.created``/``modified`` = the data watermark), so the same figures and
watermark give the same bytes.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from hcp.errors import HcpError

#: The font family the bulletin asks for; :func:`check_font` verifies fontconfig knows it.
CJK_FAMILY = "Noto Sans CJK SC"


def check_font() -> None:
    """Fail clearly (not with tofu boxes) when the CJK font is missing."""
    if shutil.which("fc-list") is None:
        return
    listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    if CJK_FAMILY not in listed:
        raise HcpError("缺少中文字体 Noto Sans CJK SC，请运行 scripts/system-deps.sh 安装 fonts-noto-cjk / "
                       "the CJK font Noto Sans CJK SC is missing: run scripts/system-deps.sh (fonts-noto-cjk)")


def html_to_pdf(html: str) -> bytes:
    """Render the bulletin page to PDF bytes (deterministic for the same HTML)."""
    check_font()
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    from weasyprint import HTML  # heavy (Pango, fonts): loaded only when a PDF is made

    return HTML(string=html).write_pdf()
