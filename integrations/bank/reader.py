"""Reading an uploaded file as a stream of rows: CSV in UTF-8 (with or without BOM), GBK/GB18030 or UTF-16,
and XLSX through openpyxl's read-only mode. Nothing holds more than one row (plus the I/O buffers) at a time.

Rows are numbered as a spreadsheet shows them: the header row of a typical file is row 1, its first data row
row 2. Blank rows are skipped and not counted.
"""

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from integrations.bank.columns import looks_like_header

ENCODINGS = {
    "auto": None,
    "utf-8": "utf-8-sig",
    "gb18030": "gb18030",
    "gbk": "gb18030",  # GB18030 is a superset of GBK and GB2312; decoding a GBK file with it is exact
    "utf-16": "utf-16",
}
DELIMITERS = [",", "\t", "|", ";"]
HEADER_SEARCH_ROWS = 10  # a title line or two above the header is common in bank exports
SNIFF_BYTES = 256 << 10  # read once to detect the encoding; memory stays this size whatever the file
XLSX_MAGIC = b"PK\x03\x04"
OLD_EXCEL_MAGIC = b"\xd0\xcf\x11\xe0"

# A quoted field may span lines, but not a whole file: an unclosed quote should fail fast and clearly.
csv.field_size_limit(1 << 20)


class FileProblem(Exception):
    """The file as a whole cannot be imported (format, encoding, header). The message is for people."""


def sniff_format(path: Path) -> str:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == XLSX_MAGIC:
        return "xlsx"
    if magic == OLD_EXCEL_MAGIC:
        raise FileProblem(_("This is an old Excel (.xls) file. Save it as .xlsx or CSV and upload it again."))
    return "csv"


def detect_encoding(sample: bytes) -> str:
    """UTF-8 when the first 256 KB decode as UTF-8, otherwise GB18030 (what Chinese Excel and core
    banking exports write). A BOM decides outright."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8-sig"


def _delimiter(first_lines: str) -> str:
    line = next((line for line in first_lines.splitlines() if line.strip()), "")
    counts = {delimiter: line.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


@dataclass
class Source:
    """The header and an iterator of (row number, cells) from where a previous run stopped."""

    header: list
    rows: Iterator[tuple[int, list]]
    rows_total: int | None  # known for a workbook, estimated by the caller from bytes for a CSV
    details: dict = field(default_factory=dict)
    _position: object = None
    _close: object = None

    def position(self) -> int:
        """Bytes of the file consumed so far (CSV only; 0 for a workbook)."""
        return self._position() if self._position else 0

    def close(self) -> None:
        if self._close:
            self._close()


def _find_header(kind: str, rows: Iterator[tuple[int, list]]) -> tuple[int, list]:
    for seen, (number, cells) in enumerate(rows):
        if looks_like_header(kind, cells):
            return number, cells
        if seen + 1 >= HEADER_SEARCH_ROWS:
            break
    raise FileProblem(
        _(
            "No header row found in the first %(n)s rows. "
            "The first row should name the columns, e.g. 客户号 or customer_no."
        )
        % {"n": HEADER_SEARCH_ROWS}
    )


def _not_blank(rows) -> Iterator[tuple[int, list]]:
    for number, cells in rows:
        if any(cell is not None and (not isinstance(cell, str) or cell.strip()) for cell in cells):
            yield number, cells


def open_csv(path: Path, kind: str, encoding: str = "auto") -> Source:
    raw = path.open("rb")
    try:
        sample = raw.read(SNIFF_BYTES)
        codec = ENCODINGS.get(encoding) or detect_encoding(sample)
        raw.seek(0)
        first_lines = sample[:65536].decode(codec, errors="replace")
        del sample
        delimiter = _delimiter(first_lines.lstrip("\ufeff"))
        # Undecodable bytes become U+FFFD and the row is rejected (see prepare), instead of failing the file.
        text = io.TextIOWrapper(raw, encoding=codec, errors="replace", newline="")
        reader = csv.reader(text, delimiter=delimiter)

        def records() -> Iterator[tuple[int, list]]:
            number = 0
            try:
                for number, cells in enumerate(reader, start=1):  # noqa: B007 (used after the loop on error)
                    yield number, cells
            except csv.Error as error:
                raise FileProblem(
                    _("Row %(row)s cannot be read as CSV (%(error)s); often an unclosed quotation mark.")
                    % {"row": number + 1, "error": error}
                ) from None

        rows = _not_blank(records())
        _number, header = _find_header(kind, rows)
    except BaseException:
        raw.close()
        raise
    details = {"encoding": codec.replace("-sig", ""), "delimiter": delimiter}
    # The wrapper must live as long as the source: collecting it would close the file under `position`.
    return Source(header, rows, None, details, _position=raw.tell, _close=text.close)


def open_xlsx(path: Path, kind: str) -> Source:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise FileProblem(_("The workbook cannot be opened (%(error)s).") % {"error": error}) from None
    try:
        sheet = book.worksheets[0]
        declared = sheet.max_row if sheet.max_row else None  # from the sheet's dimension, when it has one
        rows = _not_blank(
            (number, list(cells)) for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1)
        )
        header_row, header = _find_header(kind, rows)
    except FileProblem:
        book.close()
        raise
    total = declared - header_row if declared and declared > header_row else None
    details = {"sheet": sheet.title}
    return Source(header, rows, total, details, _close=book.close)


def open_source(path: Path, file_format: str, kind: str, encoding: str = "auto") -> Source:
    if file_format == "xlsx":
        return open_xlsx(path, kind)
    return open_csv(path, kind, encoding)
