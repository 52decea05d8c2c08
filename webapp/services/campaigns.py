"""Campaign records: contact lists imported from CSV (row-by-row report), launch and archive."""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from sqlalchemy import insert, select

from webapp.extensions import db
from webapp.models import Campaign, CampaignContact, CampaignStatus, utcnow
from webapp.services.directory import DirectoryError, name_problem, named, office_by_name, one_named
from webapp.services.phones import PhoneError, parse_any_phone
from webapp.services.segments import CONTROL_CHARACTERS

# Header names are compared lower-cased, with runs of spaces, "_" and "-" read as one space, so
# "First Name", "first_name" and "FIRST-NAME" are the same column. Earlier names win.
# Column names as CRMs and spreadsheets export them (compared in lower case, with _ and - as spaces),
# the likeliest first: a file with several phone columns texts the first of these it has.
PHONE_HEADERS = (
    "phone", "mobile phone", "mobile", "phone number", "cell phone", "cell", "cell number",
    "mobile number", "telephone", "phone #", "phone no", "phone no.",
)  # fmt: skip
FIRST_NAME_HEADERS = ("first name", "firstname", "given name", "first")
LAST_NAME_HEADERS = ("last name", "lastname", "surname", "family name", "last")
BATCH_SIZE = 1000
# Said before a list without names is saved: its contacts would show by phone number alone.
NO_NAME_COLUMNS = (
    "No first-name or last-name column found: contacts will show by phone number. "
    "Columns found: {columns}."
)


class CampaignError(ValueError):
    """The campaign or its file cannot be used; nothing was changed."""

    def __init__(self, message: str, errors: list[RowError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


@dataclass(frozen=True)
class RowError:
    line: int  # the CSV line number a person sees in a spreadsheet (header is line 1)
    reason: str


@dataclass
class ContactRow:
    line: int
    first_name: str
    last_name: str
    phone: str
    extra: dict[str, str]


@dataclass
class ImportReport:
    campaign: Campaign
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)
    warning: str | None = None  # e.g. no name columns


# How Excel's workbooks begin (.xlsx is a zip archive; .xls an OLE compound file).
WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
WORKBOOK = (
    "This is an Excel workbook, not a CSV file. In Excel, choose File > Save As > CSV UTF-8 "
    "(Comma delimited), then upload that file."
)


# How pictures and PDFs begin: renamed .csv, their first bytes may still read as text.
NOT_TEXT_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"%PDF")
NOT_TEXT = (
    "This is not a CSV file: its first line is not text. Save the list from your spreadsheet "
    "as CSV (comma-separated values) and upload that file."
)


# A byte Windows-1252 has no character for (0x81, 0x8D, 0x8F, 0x90, 0x9D) reads as Latin-1 does: a
# control character, which makes its row (alone) an invalid one.
AS_LATIN_1 = "parley-as-latin-1"
codecs.register_error(
    AS_LATIN_1, lambda error: (error.object[error.start : error.end].decode("latin-1"), error.end)
)
# In a UTF-8 file, bytes that are no UTF-8 read as Windows-1252 reads them: a curly apostrophe
# pasted from a Windows program, say; the file's other names stay as written (decoding all of it
# as Windows-1252 would garble every accented letter).
AS_WINDOWS_1252 = "parley-as-windows-1252"
codecs.register_error(
    AS_WINDOWS_1252,
    lambda error: (error.object[error.start : error.end].decode("cp1252", AS_LATIN_1), error.end),
)


def _text_stream(raw: BinaryIO) -> io.TextIOWrapper:
    """UTF-16 (or UTF-32) when the file starts with its byte order mark (Excel's "Unicode Text"),
    or UTF-16 without one when its first two characters are ASCII (every other byte zero), and then
    all of it must decode; otherwise UTF-8 (with or without BOM), a stray byte that is no UTF-8 read
    as Windows-1252 (`AS_WINDOWS_1252`), else Windows-1252 through, what Excel's "CSV" writes on
    Windows (its curly apostrophes and dashes, which Latin-1 reads as invisible control characters)."""
    raw.seek(0)
    start = raw.read(4)
    if start.startswith(WORKBOOK_SIGNATURES):
        raise CampaignError(WORKBOOK)
    if start.startswith(NOT_TEXT_SIGNATURES):
        raise CampaignError(NOT_TEXT)
    if start.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16's: FF FE 00 00
        encoding = "utf-32"
    elif start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif len(start) == 4 and start[1] == start[3] == 0 and start[0] and start[2]:
        encoding = "utf-16-le"  # without its mark, as some exports write it: a header's ASCII letters
    elif len(start) == 4 and start[0] == start[2] == 0 and start[1] and start[3]:
        encoding = "utf-16-be"
    else:
        raw.seek(0)
        if _mostly_utf8(raw, start.startswith(codecs.BOM_UTF8)):
            encoding, errors = "utf-8-sig", AS_WINDOWS_1252
        else:
            encoding, errors = "cp1252", AS_LATIN_1
        raw.seek(0)
        return io.TextIOWrapper(raw, encoding=encoding, errors=errors, newline="")
    if not _decodes(raw, encoding):
        raise CampaignError(
            f"The file starts as {encoding[:6].upper()} text (Excel's Unicode Text) but is not valid "
            "all through; save it again from the spreadsheet."
        )
    raw.seek(0)
    return io.TextIOWrapper(raw, encoding=encoding, newline="")


SEPARATORS = ",\t;"  # a comma; Excel's "Unicode Text" has tabs, its CSV where "," is a decimal point ";"


def _csv_reader(stream: io.TextIOWrapper):
    """A reader for the file's separator: the first of SEPARATORS that splits the header row into a
    phone column (a comma otherwise, which then finds no phone column and says so)."""
    header = stream.readline()
    while header and not header.strip(SEPARATORS + " \r\n"):  # blank lines before the header
        header = stream.readline()
    stream.seek(0)
    delimiter = next(
        (d for d in SEPARATORS
         if _column([_header_key(name) for name in next(csv.reader([header], delimiter=d), [])],
                    PHONE_HEADERS) is not None),
        ",",
    )  # fmt: skip
    # strict: a quote left open must stop the file, not quietly make the rest of it one cell.
    return csv.reader(stream, delimiter=delimiter, strict=True)


def _mostly_utf8(raw: BinaryIO, marked: bool) -> bool:
    """Whether a file is UTF-8, maybe with a few bytes of Windows-1252 pasted in: marked so, or
    more of its characters beyond ASCII read as UTF-8 than do not. A file Excel saved as "CSV" on
    Windows is Windows-1252 through, and then read so whole: a pair of its bytes that happens to
    be UTF-8 ("É’" is C9 92) is one character of Windows-1252 each, not one of UTF-8."""
    if marked:
        return True
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    read_as_utf8 = not_utf8 = 0
    while chunk := raw.read(1 << 20):  # a chunk at a time: big files stay out of memory
        text = decoder.decode(chunk)
        beyond_ascii = len(text) - len(text.encode("ascii", "ignore"))
        replaced = text.count("\ufffd")
        read_as_utf8 += beyond_ascii - replaced
        not_utf8 += replaced
    not_utf8 += decoder.decode(b"", final=True).count("\ufffd")
    return not_utf8 == 0 or read_as_utf8 > not_utf8


def _decodes(raw: BinaryIO, encoding: str) -> bool:
    raw.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := raw.read(1 << 20):  # a chunk at a time: big files stay out of memory
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _quoted(value: str) -> str:
    """A cell quoted in a row's error, shortened so that the reason after it still shows."""
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _header_key(name: str) -> str:
    return re.sub(r"[\s_-]+", " ", name.strip().lower())


def _column(columns: list[str], names: tuple[str, ...]) -> int | None:
    return next((columns.index(name) for name in names if name in columns), None)


def columns_found(header: list[str]) -> str:
    """The header's column names as a person reads them, shortened to fit a message."""
    names = [name.strip()[:40] for name in header if name.strip()]
    shown = ", ".join(names[:12])
    if len(names) > 12:
        shown += f" and {len(names) - 12} more"
    return shown or "none"


def read_header(raw: BinaryIO) -> list[str]:
    """The file's header row (empty for an empty file); `raw` stays open."""
    stream = _text_stream(raw)
    try:
        return _text_header(next((row for _line, row in _filled_rows(_csv_rows(_csv_reader(stream)))), []))
    finally:
        stream.detach()  # closing the text wrapper would close `raw`


def _text_header(header: list[str]) -> list[str]:
    """The header row, unless a control character in it shows the file is no text at all (a
    picture or a PDF renamed .csv), which is said so rather than listing its bytes as columns."""
    if any(char in CONTROL_CHARACTERS for name in header for char in name):
        raise CampaignError(NOT_TEXT)
    return header


def _csv_rows(reader) -> Iterator[list[str]]:
    """The reader's rows. A row the csv module cannot read stops the file, naming it as a
    spreadsheet numbers its rows: the rows after it cannot be told apart reliably."""
    for start in itertools.count(1):
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                limit = csv.field_size_limit()
                problem = f"a field is longer than {limit:,} characters (a quote left open runs on)"
            elif "unexpected end of data" in str(exc):
                problem = "a quote opened in it is never closed, so the rest of the file would be one cell"
            elif "expected after" in str(exc):
                problem = "a quoted cell has text after its closing quote (a quote inside it is written \"\")"
            else:
                problem = str(exc)
            message = f"Line {start} cannot be read as CSV: {problem}. Nothing was imported."
            raise CampaignError(message) from None
        yield row


def _duplicate_column(header: list[str]) -> str | None:
    """Why the header is refused when two columns share a name (one would hide the other's
    values), else None."""
    first_seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        key = _header_key(name)
        if not key:
            continue
        if key in first_seen:
            return (
                f"The header names {name.strip()!r} twice (columns {first_seen[key]} and "
                f"{position}); give each column a name of its own. Nothing was imported."
            )
        first_seen[key] = position
    return None


def name_columns_warning(header: list[str]) -> str | None:
    """A warning for a header with neither a first-name nor a last-name column, else None."""
    columns = [_header_key(name) for name in header]
    if _column(columns, FIRST_NAME_HEADERS) is None and _column(columns, LAST_NAME_HEADERS) is None:
        return NO_NAME_COLUMNS.format(columns=columns_found(header))
    return None


MAX_CONTACT_NAME_LENGTH = CampaignContact.__table__.c.first_name.type.length  # last_name's too


def _filled_rows(rows: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """(line, row) for each row with something in it. Lines are numbered as a spreadsheet numbers
    its rows (a cell spanning lines is one row); a blank line, or one of separators and spaces
    alone, is no row of contacts and is left out without a word."""
    for line, values in enumerate(rows, start=1):
        if any(value.strip() for value in values):
            yield line, values


def read_contacts(raw: BinaryIO) -> Iterator[ContactRow | RowError]:
    """Each data row as a ContactRow or a RowError. Raises CampaignError for an unusable header."""
    rows = _filled_rows(_csv_rows(_csv_reader(_text_stream(raw))))
    _line, header = next(rows, (None, None))
    if not header:
        raise CampaignError("The file is empty; it needs a header row first_name,last_name,phone.")
    columns = [_header_key(name) for name in _text_header(header)]
    phone_col = _column(columns, PHONE_HEADERS)
    if phone_col is None:
        raise CampaignError(
            "The file has no phone column; the header must include first_name,last_name,phone. "
            f"Columns found: {columns_found(header)}."
        )
    duplicate = _duplicate_column(header)
    if duplicate:
        raise CampaignError(duplicate)
    first_col = _column(columns, FIRST_NAME_HEADERS)
    last_col = _column(columns, LAST_NAME_HEADERS)
    known = {phone_col, first_col, last_col}
    seen: dict[str, int] = {}
    for line, values in rows:
        # Extra empty cells at a row's end (trailing separators) are nothing. A row short of
        # cells is refused: which of its cells is missing cannot be told, so no cell can be
        # trusted to be in its column.
        if len(values) > len(header) and not any(value.strip() for value in values[len(header) :]):
            values = values[: len(header)]
        if len(values) != len(header):
            yield RowError(line, f"has {len(values)} fields; the header has {len(header)}")
            continue
        if any("\x00" in value for value in values):  # PostgreSQL cannot store one
            yield RowError(line, "contains a NUL character, which no name or phone has")
            continue
        try:
            phone = parse_any_phone(values[phone_col])
        except PhoneError as exc:
            yield RowError(line, f"phone {_quoted(values[phone_col])}: {exc}")
            continue
        if phone in seen:
            yield RowError(line, f"phone {_quoted(values[phone_col])} repeats line {seen[phone]}")
            continue
        # A line break or tab inside a quoted name (a CRM's free-text field) is a space.
        first = " ".join(values[first_col].split()) if first_col is not None else ""
        last = " ".join(values[last_col].split()) if last_col is not None else ""
        too_long = next(
            (column for column, value in (("first name", first), ("last name", last))
             if len(value) > MAX_CONTACT_NAME_LENGTH),
            None,
        )  # fmt: skip
        if too_long:
            yield RowError(line, f"the {too_long} is longer than {MAX_CONTACT_NAME_LENGTH} characters")
            continue
        # Names are shown to every agent, as written: none may hide or reverse what it says.
        unshowable = next(
            (f"the {column} {problem}" for column, value in (("first name", first), ("last name", last))
             if value and (problem := name_problem(value))),
            None,
        )  # fmt: skip
        if unshowable:
            yield RowError(line, unshowable)
            continue
        seen[phone] = line
        yield ContactRow(
            line=line,
            first_name=first,
            last_name=last,
            phone=phone,
            # A column without a name keeps its values under its position (a name no header has).
            extra={
                header[i].strip() or f"(column {i + 1})": v for i, v in enumerate(values) if i not in known
            },
        )


MAX_NAME_LENGTH = 200  # campaigns.name


def import_campaign(
    name: str, office_name: str, raw: BinaryIO, launch: bool = False
) -> ImportReport:
    """Create a campaign from a CSV. Valid rows are saved; each invalid row is reported. The
    caller commits (with its audit entry, on the command line).

    A file with no valid row saves nothing.
    """
    name = (name or "").strip()
    if not name:
        raise CampaignError("A campaign needs a name.")
    if len(name) > MAX_NAME_LENGTH:
        raise CampaignError(f"A campaign name can be at most {MAX_NAME_LENGTH} characters.")
    if problem := name_problem(name):
        raise CampaignError(f"A campaign name {problem}.")
    if campaign_named(name) is not None:
        raise CampaignError(f"A campaign named {name!r} already exists.")
    office = office_by_name(office_name)
    campaign = Campaign(name=name, office=office, status=CampaignStatus.DRAFT.value)
    db.session.add(campaign)
    db.session.flush()
    report = ImportReport(campaign=campaign, warning=name_columns_warning(read_header(raw)))
    batch: list[dict] = []
    for row in read_contacts(raw):
        if isinstance(row, RowError):
            report.errors.append(row)
            continue
        batch.append(
            {
                "campaign_id": campaign.id,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "phone": row.phone,
                "extra": row.extra,
            }
        )
        if len(batch) >= BATCH_SIZE:
            report.imported += _insert(batch)
    report.imported += _insert(batch)
    if report.imported == 0:
        db.session.rollback()
        raise CampaignError(
            "The file has no valid contact rows; nothing was imported.", report.errors
        )
    campaign.contact_count = report.imported
    if launch:
        launch_campaign(campaign)
    return report


def _insert(batch: list[dict]) -> int:
    if not batch:
        return 0
    db.session.execute(insert(CampaignContact), batch)
    count = len(batch)
    batch.clear()
    return count


def _campaign_rows() -> list:
    return db.session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.id)).all()


def campaign_named(name: str) -> Campaign | None:
    """A campaign whose name reads as `name` (`directory.name_key`): the name is taken."""
    found = named(_campaign_rows(), name)
    return db.session.get(Campaign, found[0][0]) if found else None


def campaign_by_name(name: str) -> Campaign:
    try:
        found = one_named(_campaign_rows(), name or "", "campaigns")
    except DirectoryError as exc:
        raise CampaignError(str(exc)) from None
    if found is None:
        raise CampaignError(f"No campaign named {name!r}.")
    return db.session.get(Campaign, found)


def launch_campaign(campaign: Campaign) -> None:
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignError(f"Campaign {campaign.name!r} is {campaign.status}; only drafts launch.")
    campaign.status = CampaignStatus.LAUNCHED.value
    campaign.launched_at = utcnow()
