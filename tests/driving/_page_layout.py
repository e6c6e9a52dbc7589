"""Where a rendered PDF's pages end: the blank left below the lowest thing drawn on each page.

Measured with pypdfium2 from the PDF's own page objects (text, images, paths), inside the page body
(the ``@page`` margins, which hold the running header and the page number, are left out).
"""

from __future__ import annotations

MM = 72 / 25.4
INCIDENT_MARGINS = (16 * MM, 18 * MM)       # top, bottom: the incident template's @page (A4)


def blank_below(pdf_path, margins=INCIDENT_MARGINS) -> list[float]:
    """Per page, the part of the page body left blank below the lowest object drawn (0 = full, 1 = empty)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    top_margin, bottom_margin = margins
    pdf = pdfium.PdfDocument(str(pdf_path))
    out = []
    for i in range(len(pdf)):
        page = pdf[i]
        _, h = page.get_size()
        body = h - top_margin - bottom_margin
        lows = []
        for obj in page.get_objects(max_depth=8):
            if obj.type == pdfium_c.FPDF_PAGEOBJ_FORM:
                continue
            _, b, _, t = obj.get_bounds()
            if obj.type == pdfium_c.FPDF_PAGEOBJ_PATH and t - b > 0.9 * body:
                continue                                   # the page's own background
            if b >= bottom_margin - 3 and t <= h - top_margin + 3:
                lows.append(b)
        out.append((min(lows) - bottom_margin) / body if lows else 1.0)
    pdf.close()
    return out


def images_below(pdf_path, page_index: int, text: str) -> list[int]:
    """For each occurrence of ``text`` on the page, how many images start below it on that page."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument(str(pdf_path))
    page = pdf[page_index]
    tops = [obj.get_bounds()[3] for obj in page.get_objects(max_depth=8) if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE]
    textpage = page.get_textpage()
    search = textpage.search(text)
    out = []
    while (hit := search.get_next()) is not None:
        y = textpage.get_charbox(hit[0])[1]
        out.append(sum(1 for t in tops if t <= y))
    pdf.close()
    return out
