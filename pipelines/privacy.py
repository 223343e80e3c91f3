"""Caller numbers become keyed pseudonyms at ingest and nowhere else appear.

A keyed BLAKE2b hash (8 bytes, stored as int64) links repeat callers without
revealing them: the same number under the same key always gives the same
pseudonym, and without the key a pseudonym cannot be reversed by hashing a
phone book.  Each distinct number is hashed once and joined back, so the cost
follows the number of callers, not the number of calls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.failures import error_chain
from pipelines.home import Home
from pipelines.lake import Lake

KEY_ENV = "CADET_PSEUDONYM_KEY"

log = logging.getLogger("cadet.privacy")
_NOT_DIGIT = re.compile(r"\D")


class PseudonymKeyError(ValueError):
    """The pseudonymisation key is unusable; the message says how to fix it."""


def load_key(home: Home | Path | str) -> bytes:
    """The key from $CADET_PSEUDONYM_KEY, else `<home>/secrets/pseudonym.key`, created on first use.

    A missing key file over a lake that already holds callers is refused, never
    silently replaced: the new key would sever every repeat-caller link.

    Keep the key file out of backups of the lake and out of version control:
    whoever holds it can test whether a given number called.  Losing it breaks
    the link between old and new pseudonyms of the same caller.
    """
    return existing_key(home) or create_key(home)


def existing_key(home: Home | Path | str) -> bytes | None:
    """The key `load_key` would use, or None when it would create one; raises what `load_key` raises.

    Commands check it before anything starts, so that an unusable key is told in a second, not after a flow began.
    """
    text = os.environ.get(KEY_ENV)
    if text is not None:
        key = text.strip().encode("utf-8")
        if len(key) < 16:
            raise PseudonymKeyError(f"${KEY_ENV} is too short: use at least 16 characters (e.g. `openssl rand -hex 32`)")
        return key[:64]
    path = Home.of(home).pseudonym_key
    if path.exists():
        _only_owner_reads(path)
        key = path.read_text(encoding="utf-8").strip().encode("utf-8")
        if len(key) < 16:
            raise PseudonymKeyError(f"{path}: key is too short; delete the file to create a new one (old pseudonyms will no longer match)")
        return key[:64]
    if _lake_has_callers(home):
        raise PseudonymKeyError(
            f"{path} is missing, but the lake under {home} already holds callers pseudonymised with it: restore the "
            f"file from where you keep it (or set ${KEY_ENV}). A new key would stop linking every caller seen before "
            "to the same caller calling again; if that is what you want, run `cadet new-key` first")
    return None


def _only_owner_reads(path: Path) -> None:
    """A key file others may read (a copy, a restore, an umask of 022) is made the owner's alone, with a warning."""
    mode = path.stat().st_mode & 0o777
    if not mode & 0o077:
        return
    try:
        os.chmod(path, 0o600)
    except OSError as exc:
        raise PseudonymKeyError(f"{path} may be read by others (mode {mode:o}) and cadet cannot change that ({exc.strerror}): "
                                f"run `chmod 600 {path}` as its owner") from None
    log.warning("%s could be read by others (mode %o): cadet made it readable by its owner alone (600); whoever "
                "reads it can test whether a given number called", path, mode)


def _lake_has_callers(home: Home | Path | str) -> bool:
    return bool(Lake(Home.of(home).lake).days("calls"))


def create_key(home: Home | Path | str) -> bytes:
    """A new random key in `<home>/secrets/pseudonym.key` (never over an existing one)."""
    path = Home.of(home).pseudonym_key
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    log.warning(
        "created a new pseudonymisation key at %s; keep it safe and out of the lake's backups, "
        "or set $%s to manage it yourself",
        path,
        KEY_ENV,
    )
    return key.encode("utf-8")


def normalise_number(number: str) -> str:
    """Digits only, so '+1 (312) 555-0100' and '13125550100' are the same caller."""
    return _NOT_DIGIT.sub("", number)


def _pseudonym(number: str, key: bytes) -> int:
    digest = hashlib.blake2b(normalise_number(number).encode("ascii"), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "little", signed=True)


def pseudonymise(numbers: pa.Array | pa.ChunkedArray, key: bytes) -> pa.Array:
    """int64 pseudonyms for a string column of phone numbers; null stays null."""
    if isinstance(numbers, pa.ChunkedArray):
        numbers = numbers.combine_chunks()
    encoded = pc.dictionary_encode(numbers)
    distinct = encoded.dictionary.to_pylist()
    keys = np.fromiter((_pseudonym(n, key) for n in distinct), dtype=np.int64, count=len(distinct))
    indices = encoded.indices
    mask = np.asarray(indices.is_null().to_numpy(zero_copy_only=False))
    filled = np.asarray(pc.fill_null(indices, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    values = keys[filled] if len(keys) else np.zeros(len(filled), dtype=np.int64)
    return pa.array(values, type=pa.int64(), mask=mask)


# A phone number in free text: '+' and 6-15 digits (spaces, dots, dashes or brackets may
# group them), or a run of 6-15 digits (national formats are as short as 6).  Dates, clock
# times and Asterisk uniqueids ('1767600090.1') are left alone; so is the Unix time that
# starts a queue_log line.  A ring time in milliseconds may be masked too: privacy first.
_PHONE = re.compile(r"(?<![\w.])(?:\+\d[\d ().-]{5,18}\d|\d{6,15})(?![\w.])")


def scrub_numbers(text: str) -> str:
    """Hide anything that looks like a phone number, with no key: for logs and tracebacks, which need no link."""
    def replace(match: re.Match) -> str:
        if match.start() == 0 and text[match.end():match.end() + 1] == "|":
            return match.group(0)
        return "<number>"

    return _PHONE.sub(replace, text)


class ScrubNumbers(logging.Filter):
    """A log handler's filter: the message and any traceback reach the handler with numbers hidden."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub_numbers(record.getMessage()), ()
        if record.exc_info:
            record.exc_text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # a handler that renders the exception itself would show it unscrubbed
        if record.exc_text:
            record.exc_text = scrub_numbers(record.exc_text)
        return True


def scrub_log_handlers() -> None:
    """Put `ScrubNumbers` on every configured log handler, Prefect's API handler (the run logs it stores) included."""
    loggers = [logging.getLogger(), *(found for found in logging.Logger.manager.loggerDict.values()
                                      if isinstance(found, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(existing, ScrubNumbers) for existing in handler.filters):
                handler.addFilter(ScrubNumbers())


def scrub_exception(error: BaseException) -> None:
    """Hide numbers in an exception's message (and those it was raised from), in place, before it is reported."""
    for link in error_chain(error):
        if link.args and any(isinstance(arg, str) for arg in link.args):
            link.args = tuple(scrub_numbers(arg) if isinstance(arg, str) else arg for arg in link.args)


def mask_numbers(text: str, key: bytes) -> str:
    """Replace anything that looks like a phone number by its pseudonym, e.g. 'caller:-812...'.

    Used for text cadet keeps about rejected input (the quarantine), so that an
    analyst can still see that two rejected lines came from the same caller.
    """
    def replace(match: re.Match) -> str:
        if match.start() == 0 and text[match.end():match.end() + 1] == "|":
            return match.group(0)  # a queue_log line's leading Unix time, not a number to hide
        if text[:match.start()].endswith(("caller:", "caller:-")):
            return match.group(0)  # masked already (text carried over from an earlier run)
        return f"caller:{_pseudonym(match.group(0), key)}"

    return _PHONE.sub(replace, text)
