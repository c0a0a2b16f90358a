"""Reading a shop's customers and orders from CSV (`relaydesk customers import`, `relaydesk
orders import`): every line checked, every problem reported with its line number and column,
before anything is stored.

    customers.csv  customer_id (required), name, email, phone, region, language (zh | en),
                   customer_since (YYYY-MM-DD or ISO 8601), tags (separated by ; or |),
                   identities (channel:id, separated by ; or |, e.g. "telegram:5551234")
    orders.csv     order_id, customer_id, ordered_at, amount, status (required);
                   currency (default CNY), items, courier, tracking, eta

`customer_id` is the shop's own customer number. Files are UTF-8 (a BOM, as Excel writes it,
is fine) or GB 18030 (Excel's "CSV" on a Chinese Windows); at most `max_bytes` and `max_rows`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from bot.errors import InputError
from bot.store.profiles import ImportedCustomer, clean_field, clean_tag
from bot.store.shop_orders import ORDER_STATUSES, ShopOrderRecord

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_CELL = 500
MAX_ERRORS_SHOWN = 50
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

CUSTOMER_COLUMNS = (
    "customer_id", "name", "email", "phone", "region", "language", "customer_since", "tags",
    "identities",
)  # fmt: skip
ORDER_COLUMNS = (
    "order_id", "customer_id", "ordered_at", "amount", "status", "currency", "items", "courier",
    "tracking", "eta",
)  # fmt: skip
T = TypeVar("T")


@dataclass(frozen=True)
class LineError:
    line: int  # 1-based, the header is line 1
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class Parsed(Generic[T]):
    rows: list[T] = field(default_factory=list)
    row_lines: list[int] = field(default_factory=list)  # each row's line in the file
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0  # data lines read

    def reject(self, keep: Callable[[T], str | None], column: str) -> None:
        """Move the rows `keep` has a complaint about (its message) to the errors."""
        rows, lines = [], []
        for row, line in zip(self.rows, self.row_lines, strict=True):
            problem = keep(row)
            if problem is None:
                rows.append(row)
                lines.append(line)
            else:
                self.errors.append(LineError(line, column, problem))
        self.rows, self.row_lines = rows, lines
        self.errors.sort(key=lambda e: e.line)


def decode(data: bytes, max_bytes: int = MAX_BYTES) -> str:
    """The file's text; InputError if it is too big or in no encoding we read."""
    if len(data) > max_bytes:
        raise InputError(f"file is {len(data):,} bytes; the limit is {max_bytes:,}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 or GB 18030 text (byte {exc.start}); save it as CSV UTF-8"
        ) from exc


def parse_customers(text: str, max_rows: int = MAX_ROWS) -> Parsed[ImportedCustomer]:
    return _parse(text, CUSTOMER_COLUMNS, ("customer_id",), _customer, max_rows)


def parse_orders(text: str, max_rows: int = MAX_ROWS) -> Parsed[ShopOrderRecord]:
    required = ("order_id", "customer_id", "ordered_at", "amount", "status")
    return _parse(text, ORDER_COLUMNS, required, _order, max_rows)


class _LineProblem(Exception):
    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def _parse(
    text: str,
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    build: Callable[[dict[str, str]], T],
    max_rows: int,
) -> Parsed[T]:
    out: Parsed[T] = Parsed()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError("the file is empty; the first line must name the columns") from None
    except csv.Error as exc:
        raise InputError(f"line 1: {exc}") from exc
    unknown = [h for h in header if h not in allowed]
    missing = [c for c in required if c not in header]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if unknown or missing or dupes:
        parts = []
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if dupes:
            parts.append(f"repeated column(s) {', '.join(dupes)}")
        raise InputError(f"line 1: {'; '.join(parts)}; allowed: {', '.join(allowed)}")
    seen: dict[str, int] = {}
    for line, cells in _lines(reader, out):
        if not any(c.strip() for c in cells):
            continue  # a blank line, as spreadsheets leave at the end
        out.lines += 1
        if out.lines > max_rows:
            raise InputError(f"more than {max_rows:,} data lines; split the file")
        if len(cells) != len(header):
            out.errors.append(
                LineError(line, None, f"{len(cells)} cells, the header has {len(header)}")
            )
            continue
        record = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        try:
            too_long = next((h for h, v in record.items() if len(v) > MAX_CELL), None)
            if too_long:
                raise _LineProblem(too_long, f"longer than {MAX_CELL} characters")
            key = record[required[0]]
            if key in seen:
                raise _LineProblem(required[0], f"{key!r} again (first on line {seen[key]})")
            row = build(record)
            seen[key] = line
            out.rows.append(row)
            out.row_lines.append(line)
        except _LineProblem as p:
            out.errors.append(LineError(line, p.column, p.message))
    return out


def _lines(reader: Any, out: Parsed[Any]) -> Iterator[tuple[int, list[str]]]:
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a quote never closed: nothing after it can be trusted
            out.errors.append(LineError(reader.line_num, None, str(exc)))
            return
        yield reader.line_num, cells


def _ref(value: str, column: str) -> str:
    if not value:
        raise _LineProblem(column, "required")
    if not _REF.match(value):
        raise _LineProblem(column, f"{value!r}: letters, digits, _ . : - (at most 64)")
    return value


def _field(name: str, value: str, column: str | None = None) -> str | None:
    try:
        return clean_field(name, value)
    except InputError as exc:
        raise _LineProblem(column or name, str(exc).split(": ", 1)[-1]) from None


def _time(value: str, column: str, *, required: bool = False) -> datetime | None:
    if not value:
        if required:
            raise _LineProblem(column, "required")
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _LineProblem(column, f"{value!r} is not a date (YYYY-MM-DD or ISO 8601)") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _list(value: str) -> list[str]:
    return [v.strip() for v in re.split(r"[;|]", value) if v.strip()]


def _customer(r: dict[str, str]) -> ImportedCustomer:
    tags = []
    for tag in _list(r.get("tags", "")):
        try:
            tags.append(clean_tag(tag))
        except InputError as exc:
            raise _LineProblem("tags", str(exc)) from None
    identities = []
    for ident in _list(r.get("identities", "")):
        channel, _, external = ident.partition(":")
        if not _CHANNEL.match(channel) or not external or len(external) > 200:
            raise _LineProblem("identities", f"{ident!r} is not channel:id (telegram:5551234)")
        identities.append((channel, external))
    return ImportedCustomer(
        ref=_ref(r["customer_id"], "customer_id"),
        name=_field("name", r.get("name", "")),
        email=_field("email", r.get("email", "")),
        phone=_field("phone", r.get("phone", "")),
        region=_field("region", r.get("region", "")),
        language=_field("language", r.get("language", "")),
        since=_time(r.get("customer_since", ""), "customer_since"),
        tags=tuple(dict.fromkeys(tags)),
        identities=tuple(identities),
    )


def _order(r: dict[str, str]) -> ShopOrderRecord:
    status = r["status"].lower()
    if status not in ORDER_STATUSES:
        raise _LineProblem("status", f"{r['status']!r}; allowed: {', '.join(ORDER_STATUSES)}")
    try:
        amount = Decimal(r["amount"].replace(",", ""))
    except InvalidOperation:
        raise _LineProblem("amount", f"{r['amount']!r} is not a number (1299.00)") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e13"):
        raise _LineProblem("amount", f"{r['amount']!r}: from 0 to 9,999,999,999,999.99")
    if amount != amount.quantize(Decimal("0.01")):
        raise _LineProblem("amount", f"{r['amount']!r}: at most two decimals")
    currency = (r.get("currency") or "CNY").upper()
    if not _CURRENCY.match(currency):
        raise _LineProblem("currency", f"{currency!r} is not a three-letter code (CNY)")
    ordered_at = _time(r["ordered_at"], "ordered_at", required=True)
    assert ordered_at is not None
    return ShopOrderRecord(
        order_id=_ref(r["order_id"], "order_id").lstrip("#"),
        customer_id=None,
        customer_ref=_ref(r["customer_id"], "customer_id"),
        items=r.get("items", ""),
        status=status,
        amount_cents=int(amount * 100),
        currency=currency,
        ordered_at=ordered_at,
        courier=r.get("courier") or None,
        tracking=r.get("tracking") or None,
        eta=r.get("eta") or None,
    )
