"""Fast reader for FER2013-style CSV files (plain or gzip-compressed).

Formats, told apart by the header (names are matched case-insensitively, surrounding spaces and
quotes ignored, columns in any order, extra columns ignored):

* FER2013: ``emotion,pixels,Usage`` (``Usage`` optional; the Kaggle variant ``emotion, Usage,
  pixels`` has leading spaces);
* course training file: ``label,feature``;
* course test file: ``id,feature`` (no labels; split ``"Test"``, ids from the ``id`` column).

Speed: the file is decompressed in pieces on a background thread (zlib releases the GIL) while the
main thread parses blocks of whole lines with a handful of vectorized numpy passes: the bytes are
mapped to digit classes, token ends are found in one pass, and each pixel's up-to-three digits are
read through a 16-bit lookup table that also rejects too-long numbers and values above 255. When
any check of a block fails, that block is re-read line by line (the slow path), which finds the
exact line and value for the error message. The slow path decides what is valid; the fast path
only accepts what the slow path would accept.
"""

from __future__ import annotations

import csv
import os
import queue
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataFormatError
from .problems import Problems, short

PIXELS = 48 * 48
GZIP_MAGIC = b"\x1f\x8b"
_READ_CHUNK = 1 << 20  # compressed bytes per read (about 3 MB of text per piece)
_PLAIN_CHUNK = 4 << 20
_MAX_HEADER = 1 << 20  # a header line longer than this means the file is not a CSV

_PIXEL_NAMES = ("pixels", "feature", "features")
_LABEL_NAMES = ("emotion", "label", "labels")
_SPLIT_NAMES = ("usage", "split")
_ID_NAMES = ("id",)

_DIGITS = re.compile(r"[0-9]+")
_NEGATIVE = re.compile(r"-[0-9]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NOT_PIXEL_TEXT = re.compile(r"[^0-9 \t]")


@dataclass(frozen=True)
class CsvLayout:
    """Which column holds what, as read from the header.

    Attributes:
        kind: ``"fer2013"``, ``"course-train"`` or ``"course-test"``.
        names: The header's column names (stripped).
        pixel_col: Index of the pixel column.
        label_col: Index of the label column, or None (unlabeled).
        split_col: Index of the split column, or None.
        id_col: Index of the id column, or None.
        default_split: Split name used when there is no split column.
    """

    kind: str
    names: tuple[str, ...]
    pixel_col: int
    label_col: int | None
    split_col: int | None
    id_col: int | None
    default_split: str

    @property
    def ncols(self) -> int:
        """Number of columns."""
        return len(self.names)


def _find(names: list[str], wanted: tuple[str, ...]) -> int | None:
    for i, name in enumerate(names):
        if name in wanted:
            return i
    return None


def parse_header(header: str, source: str) -> CsvLayout:
    """Work out the CSV layout from its header line.

    Args:
        header: The first line of the file (without the newline).
        source: The file, for messages.

    Returns:
        The layout.

    Raises:
        DataFormatError: A required column is missing or the header is not a known format.
    """
    raw = next(csv.reader([header.lstrip("\ufeff")]), [])
    names = [n.strip().strip('"').strip() for n in raw]
    lower = [n.lower() for n in names]
    pixel = _find(lower, _PIXEL_NAMES)
    label = _find(lower, _LABEL_NAMES)
    split = _find(lower, _SPLIT_NAMES)
    ident = _find(lower, _ID_NAMES)
    shown = short(header, 60)
    if pixel is None:
        if label is not None or split is not None or ident is not None:
            raise DataFormatError(
                f"{source}, line 1: missing column 'pixels' (or 'feature') in header {shown}"
            )
        raise DataFormatError(
            f"{source}: unknown data format: first line {shown} is not a FER2013 header "
            "(emotion,pixels,Usage) or a course header (label,feature / id,feature); "
            "expected a CSV, an emotionkit .npz or an image folder ROOT/<split>/<class>/"
        )
    if lower[pixel] == "pixels" and label is None:
        raise DataFormatError(f"{source}, line 1: missing column 'emotion' in header {shown}")
    if label is None and ident is None:
        raise DataFormatError(
            f"{source}, line 1: missing column 'label' (training file) or 'id' (test file) "
            f"in header {shown}"
        )
    if label is not None:
        kind = "fer2013" if lower[pixel] == "pixels" else "course-train"
        return CsvLayout(kind, tuple(names), pixel, label, split, None, "Training")
    return CsvLayout("course-test", tuple(names), pixel, None, split, ident, "Test")


# ------------------------------------------------------------------------------- byte sources
def _plain_pieces(path: str) -> Iterator[tuple[bytes, int]]:
    with open(path, "rb") as fh:
        while True:
            buf = fh.read(_PLAIN_CHUNK)
            if not buf:
                return
            yield buf, len(buf)


def _gzip_pieces(path: str, source: str) -> Iterator[tuple[bytes, int]]:
    """Decompressed pieces of a (possibly multi-member) gzip file, with compressed bytes read."""
    with open(path, "rb") as fh:
        dec = zlib.decompressobj(wbits=31)
        fed = False
        while True:
            buf = fh.read(_READ_CHUNK)
            if not buf:
                break
            consumed = len(buf)
            while buf:
                try:
                    out = dec.decompress(buf)
                except zlib.error as exc:
                    raise DataFormatError(f"{source}: not a valid gzip file ({exc})") from None
                fed = True
                if out:
                    yield out, consumed
                    consumed = 0
                if dec.eof:
                    buf = dec.unused_data
                    dec, fed = zlib.decompressobj(wbits=31), False
                    if not buf.strip(b"\x00"):  # gzip tolerates trailing zero padding
                        buf = b""
                else:
                    buf = b""
            if consumed:
                yield b"", consumed
        if fed and not dec.eof:
            raise DataFormatError(f"{source}: gzip file is truncated (ends inside the stream)")


class _Stop(Exception):
    pass


def _prefetch(pieces: Iterator[tuple[bytes, int]], depth: int = 4) -> Iterator[tuple[bytes, int]]:
    """Run ``pieces`` on a background thread, ``depth`` pieces ahead of the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stop

    def work() -> None:
        try:
            for item in pieces:
                put(item)
            put(done)
        except _Stop:
            pass
        except BaseException as exc:  # handed to the consumer, which re-raises it
            try:
                put(exc)
            except _Stop:
                pass
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="emotionkit-csv-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


# ------------------------------------------------------------------------------- fast path
def _make_tables() -> tuple[bytes, np.ndarray]:
    # byte -> class: digits 0..9, separators 10, anything else 11
    table = bytearray([11]) * 256
    for b in b" \t\r\n,":
        table[b] = 10
    for d in range(10):
        table[48 + d] = d
    # 16-bit key of the classes of the 4 bytes ending at a token end (last byte in the top
    # nibble) -> value; -1 marks 4+ digit tokens, which only the slow path may judge
    k = np.arange(1 << 16)
    c0, c1, c2, c3 = k & 15, (k >> 4) & 15, (k >> 8) & 15, (k >> 12) & 15
    lut = np.full(1 << 16, -1, np.int16)
    one = (c3 < 10) & (c2 >= 10)
    two = (c3 < 10) & (c2 < 10) & (c1 >= 10)
    three = (c3 < 10) & (c2 < 10) & (c1 < 10) & (c0 >= 10)
    lut[one] = c3[one]
    lut[two] = (10 * c2 + c3)[two]
    lut[three] = (100 * c1 + 10 * c2 + c3)[three]
    return bytes(table), lut


_CLASS_TABLE, _VALUE_LUT = _make_tables()


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for each pair, without a Python loop."""
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return offsets + np.arange(total)


def _bounds(f_start: np.ndarray, f_end: np.ndarray, col: int) -> zip:
    """(start, end) byte offsets of column ``col`` in every line."""
    return zip(f_start[:, col].tolist(), f_end[:, col].tolist(), strict=True)


@dataclass
class _Rows:
    images: np.ndarray
    labels: list[int]
    splits: list[str]
    ids: list[Any]


def _fast_block(block: bytes, lay: CsvLayout, first_line: int) -> _Rows | None:
    """Parse a block of complete lines (ending in a newline); None when any check fails."""
    arr = np.frombuffer(block, np.uint8)
    nl = np.flatnonzero(arr == 10)
    n = len(nl)
    commas = np.flatnonzero(arr == 44)
    if n == 0 or len(commas) != n * (lay.ncols - 1):
        return None
    line_start = np.empty(n, np.int64)
    line_start[0] = 0
    line_start[1:] = nl[:-1] + 1
    cuts = commas.reshape(n, lay.ncols - 1)
    if not ((cuts[:, 0] > line_start).all() and (cuts[:, -1] < nl).all()):
        return None
    f_start = np.concatenate((line_start[:, None], cuts + 1), axis=1)
    f_end = np.concatenate((cuts, nl[:, None]), axis=1)
    ps, pe = f_start[:, lay.pixel_col], f_end[:, lay.pixel_col]

    # pixels: bytes -> classes, everything outside the pixel fields -> separator
    buf = bytearray(b"   ")  # 3 separators so every token end has 3 bytes before it
    buf += block
    buf = buf.translate(_CLASS_TABLE)
    cls = np.frombuffer(buf, np.uint8)
    outside = np.concatenate((_ranges(line_start, ps), _ranges(pe, nl + 1)))
    cls[outside + 3] = 10
    if cls.max() > 10:
        return None
    digit = cls < 10
    ends = np.flatnonzero(digit[:-1] > digit[1:])
    if len(ends) != n * PIXELS:
        return None
    if not np.array_equal(np.searchsorted(ends, ps + 3), np.arange(n) * PIXELS):
        return None
    pairs = cls[:-1] | (cls[1:] << 4)  # byte i holds classes of bytes i, i+1
    lo = pairs[ends - 3]
    hi = pairs[ends - 1]
    key = hi.astype(np.uint16)
    key <<= 8
    key |= lo
    values = _VALUE_LUT[key]
    if values.view(np.uint16).max() > 255:  # -1 (4+ digits) shows up as 65535
        return None
    images = values.astype(np.uint8).reshape(n, 48, 48)

    labels: list[int] = []
    if lay.label_col is not None:
        fields = [block[s:e] for s, e in _bounds(f_start, f_end, lay.label_col)]
        stripped = [f.strip() for f in fields]
        if not all(f.isdigit() and len(f) < 4 for f in stripped):
            return None
        labels = [int(f) for f in stripped]
        if max(labels) > 6:
            return None
    splits: list[str] = []
    if lay.split_col is not None:
        names: dict[bytes, str] = {}
        for s, e in _bounds(f_start, f_end, lay.split_col):
            raw = block[s:e]
            name = names.get(raw)
            if name is None:
                text = raw.strip().strip(b'"').strip()
                if not text or not text.isascii() or b'"' in text:
                    return None
                name = names[raw] = text.decode("ascii")
            splits.append(name)
    ids: list[Any] = []
    if lay.id_col is not None:
        for s, e in _bounds(f_start, f_end, lay.id_col):
            raw = block[s:e].strip()
            if not raw.isdigit():
                return None
            ids.append(int(raw))
    else:
        ids = list(range(first_line, first_line + n))
    return _Rows(images, labels, splits, ids)


# ------------------------------------------------------------------------------- slow path
def _parse_pixels(text: str) -> tuple[np.ndarray | None, str | None, str | None]:
    """Strictly parse one pixel field; return (values, reason, value) with reason on failure."""
    tokens = text.split()
    if _NOT_PIXEL_TEXT.search(text):
        for k, tok in enumerate(tokens, start=1):
            if _DIGITS.fullmatch(tok):
                continue
            if _NEGATIVE.fullmatch(tok):
                return None, f"pixel value {tok} (pixel {k}) is outside 0..255", tok
            return None, f"non-numeric pixel value {short(tok)} (pixel {k})", tok
    if len(tokens) != PIXELS:
        return None, f"expected {PIXELS} pixel values (48x48), got {len(tokens)}", str(len(tokens))
    values = np.array(tokens).astype(np.int64) if tokens else np.zeros(0, np.int64)
    over = np.flatnonzero(values > 255)
    if over.size:
        k = int(over[0])
        return None, f"pixel value {tokens[k]} (pixel {k + 1}) is outside 0..255", tokens[k]
    return values.astype(np.uint8), None, None


def _slow_block(
    block: bytes, lay: CsvLayout, first_line: int, problems: Problems
) -> _Rows:
    """Parse line by line, reporting each bad line with its number and offending value."""
    images, labels, splits, ids = [], [], [], []
    header = ",".join(lay.names)
    for offset, raw in enumerate(block.split(b"\n")[:-1]):
        line_no = first_line + offset
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            problems.report(f"not UTF-8 text ({exc.reason} at byte {exc.start})", line=line_no)
            continue
        fields = next(csv.reader([text])) if '"' in text else text.split(",")
        if len(fields) != lay.ncols:
            problems.report(
                f"expected {lay.ncols} fields ({header}), got {len(fields)}"
                + (" (missing column)" if len(fields) < lay.ncols else ""),
                line=line_no,
                value=short(text),
            )
            continue
        label = None
        if lay.label_col is not None:
            s = fields[lay.label_col].strip()
            if not _INTEGER.fullmatch(s):
                name = lay.names[lay.label_col]
                what = "empty" if not s else f"not an integer: {short(s)}"
                problems.report(f"{name} value is {what}", line=line_no, value=s)
                continue
            label = int(s)
            if not 0 <= label <= 6:
                problems.report(
                    f"label {s} is outside 0..6 (angry..neutral)", line=line_no, value=s
                )
                continue
        split = lay.default_split
        if lay.split_col is not None:
            split = fields[lay.split_col].strip().strip('"').strip()
            if not split:
                problems.report(
                    f"empty {lay.names[lay.split_col]} value", line=line_no, value=""
                )
                continue
        ident: Any = line_no
        if lay.id_col is not None:
            s = fields[lay.id_col].strip()
            if not s:
                problems.report("empty id value", line=line_no, value="")
                continue
            ident = int(s) if s.isdigit() else s
        values, reason, bad = _parse_pixels(fields[lay.pixel_col])
        if values is None:
            problems.report(reason or "bad pixels", line=line_no, value=bad)
            continue
        images.append(values.reshape(48, 48))
        if label is not None:
            labels.append(label)
        if lay.split_col is not None:
            splits.append(split)
        ids.append(ident)
    stacked = np.stack(images) if images else np.zeros((0, 48, 48), np.uint8)
    return _Rows(stacked, labels, splits, ids)


# ------------------------------------------------------------------------------- the reader
def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def read_csv(
    path: str | os.PathLike, *, on_error: str = "raise", progress: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a FER2013 or course CSV (plain or gzip), detected from its header.

    Args:
        path: The file.
        on_error: ``"raise"`` or ``"skip"`` (see :class:`~emotionkit.data.problems.Problems`).
        progress: Show a progress bar (tqdm, stderr; off when stderr is not a terminal).

    Returns:
        ``(arrays, skipped)``: ``arrays`` has ``images``, ``labels`` (or None), ``splits``,
        ``ids``, ``format``; ``skipped`` lists the records of skipped lines.

    Raises:
        DataFormatError: Empty file, unknown header, missing column, or (with
            ``on_error="raise"``) the first bad line.
    """
    from tqdm.auto import tqdm

    source = str(path)
    problems = Problems(source, on_error)
    size = os.path.getsize(path)
    if size == 0:
        raise DataFormatError(f"{source}: empty file")
    compressed = is_gzip(path)
    pieces = _prefetch(_gzip_pieces(source, source)) if compressed else _plain_pieces(source)
    layout: CsvLayout | None = None
    next_line = 1
    carry = b""
    parts: list[_Rows] = []
    bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"reading {os.path.basename(source)}",
               disable=None if progress else True, leave=False)

    def parse(block: bytes) -> None:
        nonlocal next_line
        assert layout is not None
        rows = _fast_block(block, layout, next_line)
        if rows is None:
            rows = _slow_block(block, layout, next_line, problems)
        parts.append(rows)
        next_line += block.count(b"\n")

    try:
        for piece, consumed in pieces:
            bar.update(consumed)
            data = carry + piece if carry else piece
            if layout is None:
                # skip leading blank lines, then read the header
                while True:
                    k = data.find(b"\n")
                    if k < 0:
                        break
                    line = data[:k]
                    data = data[k + 1:]
                    if line.strip():
                        layout = parse_header(_decode_header(line, source, next_line), source)
                        next_line += 1
                        break
                    next_line += 1
                if layout is None:
                    if len(data) > _MAX_HEADER:
                        raise DataFormatError(
                            f"{source}: unknown data format (no line break in the first "
                            f"{_MAX_HEADER // 1024} KiB, so no CSV header)"
                        )
                    carry = data
                    continue
            k = data.rfind(b"\n")
            if k < 0:
                carry = data
                continue
            carry = data[k + 1:]
            parse(data[: k + 1])
        if layout is None:
            if not carry.strip():
                raise DataFormatError(f"{source}: empty file" + (" (after decompression)"
                                                                  if compressed else ""))
            layout = parse_header(_decode_header(carry, source, next_line), source)
            carry = b""
        if carry.strip():
            parse(carry + b"\n")
    finally:
        bar.close()
        if hasattr(pieces, "close"):
            pieces.close()

    total = sum(len(p.images) for p in parts)
    if total == 0 and not problems.records:
        raise DataFormatError(f"{source}: has a header but no data rows")
    images = (np.concatenate([p.images for p in parts]) if parts
              else np.zeros((0, 48, 48), np.uint8))
    labels = None
    if layout.label_col is not None:
        labels = np.fromiter((v for p in parts for v in p.labels), np.int64, total)
    if layout.split_col is not None:
        splits = np.array([s for p in parts for s in p.splits], dtype=object)
    else:
        splits = np.full(total, layout.default_split, dtype=object)
    id_list = [i for p in parts for i in p.ids]
    if all(isinstance(i, int) for i in id_list):
        ids = np.array(id_list, dtype=np.int64)
    else:
        ids = np.array([str(i) for i in id_list])
    arrays = {"images": images, "labels": labels, "splits": splits, "ids": ids,
              "format": layout.kind}
    return arrays, problems.records


def _decode_header(line: bytes, source: str, line_no: int) -> str:
    if b"\x00" in line:
        raise DataFormatError(
            f"{source}: unknown data format (binary content); expected a FER2013/course CSV "
            "(optionally .gz), an emotionkit .npz, or an image folder ROOT/<split>/<class>/"
        )
    try:
        return line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        raise DataFormatError(
            f"{source}, line {line_no}: unknown data format (header is not UTF-8 text)"
        ) from None
