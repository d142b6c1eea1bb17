"""File writers for exports: CSV (UTF-8 with BOM so Excel opens Chinese text) and XLSX (openpyxl, streaming)."""

import csv
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill


class CsvWriter:
    def __init__(self, path: Path, headers: list[str]):
        self._file = path.open("w", newline="", encoding="utf-8-sig")
        self._csv = csv.writer(self._file)
        self._csv.writerow(headers)

    def write(self, row: list):
        self._csv.writerow(["" if value is None else value for value in row])

    def close(self):
        self._file.close()


class XlsxWriter:
    """Write-only workbook: constant memory; bold filled header, frozen first row, numbers kept numeric."""

    def __init__(self, path: Path, headers: list[str], sheet_title: str):
        self._path = path
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(title=sheet_title[:31])
        self._sheet.freeze_panes = "A2"
        header_font = Font(bold=True, color="FFFFFF")
        header_fill = PatternFill("solid", fgColor="1F4E79")
        header_cells = []
        for header in headers:
            cell = WriteOnlyCell(self._sheet, value=header)
            cell.font = header_font
            cell.fill = header_fill
            header_cells.append(cell)
        for index, header in enumerate(headers):
            self._sheet.column_dimensions[_column_letter(index)].width = max(10, min(40, len(header) * 2 + 4))
        self._sheet.append(header_cells)

    def write(self, row: list):
        self._sheet.append([float(value) if isinstance(value, Decimal) else value for value in row])

    def close(self):
        self._book.save(self._path)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters
