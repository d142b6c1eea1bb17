"""A multi-sheet Excel report written with openpyxl's write-only workbook (constant memory, fast at 100k rows):
a bold filled header row frozen in place, column widths, numbers as numbers, rates as percentage-formatted
fractions, money with thousands separators."""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

FORMATS = {
    "int": None,  # General: a plain numeric cell, no per-cell style (the daily sheet has 100k rows)
    "money": "#,##0.00",
    "percent": "0.0%",
    "decimal": "0.0",
    "date": "yyyy-mm-dd",
    "text": None,
}
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
HEADER_ALIGNMENT = Alignment(vertical="center", wrap_text=True)


@dataclass(frozen=True)
class Column:
    header: str
    kind: str = "int"
    width: float = 12


class ReportWorkbook:
    def __init__(self, path: Path):
        self._path = path
        self._book = Workbook(write_only=True)
        self._sheet = None
        self._columns: list[Column] = []

    def sheet(self, title: str, columns: list[Column]) -> None:
        """Start a sheet: its header row, frozen below the header, and its column widths."""
        self._sheet = self._book.create_sheet(title=title[:31])
        self._columns = columns
        self._sheet.freeze_panes = "A2"
        for index, column in enumerate(columns, start=1):
            self._sheet.column_dimensions[get_column_letter(index)].width = column.width
        header = []
        for column in columns:
            cell = WriteOnlyCell(self._sheet, value=column.header)
            cell.font, cell.fill, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_ALIGNMENT
            header.append(cell)
        self._sheet.append(header)

    def row(self, values: list) -> None:
        cells = []
        for column, value in zip(self._columns, values, strict=True):
            if isinstance(value, Decimal):
                value = float(value)
            number_format = FORMATS[column.kind]
            if number_format is None or value is None:
                cells.append(value)
                continue
            cell = WriteOnlyCell(self._sheet, value=value)
            cell.number_format = number_format
            cells.append(cell)
        self._sheet.append(cells)

    def pair(self, label: str, value, kind: str) -> None:
        """A label and a value of its own kind (the summary sheet mixes counts, money and rates in one column)."""
        cell = WriteOnlyCell(self._sheet, value=float(value) if isinstance(value, Decimal) else value)
        if FORMATS[kind] and value is not None:
            cell.number_format = FORMATS[kind]
        self._sheet.append([label, cell])

    def close(self) -> None:
        self._book.save(self._path)
