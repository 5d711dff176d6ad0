"""Writes corpus documents as JSON Lines: the format `anetrain data prepare --input` reads.

One line per natural document (chapter, address, book, story, ...), each a JSON object
    {"text": "...", "title": "..."}
so that a validation split can take whole documents and never cut one in two. Files are UTF-8,
lines end in "\\n", and non-ASCII characters are written as themselves (ensure_ascii=False).

Every text goes through clean() first:
  * bytes that are not valid UTF-8 become U+FFFD (counted, reported);
  * "\\r\\n" and lone "\\r" become "\\n";
  * C0 control characters other than "\\t" and "\\n" are dropped (e.g. a stray \\x02 in the
    1890 State of the Union), as are U+FEFF byte-order marks;
  * trailing spaces at line ends are removed, runs of 3+ newlines shrink to one blank line,
    and the document is stripped of leading/trailing blank space.
Documents that are empty after cleaning are skipped.
"""

import json
import os
import re

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufeff]")
_TRAILING_SPACE = re.compile("[ \t]+\n")
_BLANK_RUN = re.compile("\n{3,}")


def decode(raw):
    """bytes -> str, replacing invalid UTF-8; returns (text, number of replacements)."""
    text = raw.decode("utf-8", "replace")
    # Count only replacements we introduced, not U+FFFD already present in valid input.
    return text, text.count("\ufffd") - raw.count("\ufffd".encode("utf-8"))


def clean(text):
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_RUN.sub("\n\n", text)
    return text.strip()


def write(path, docs):
    """Writes (title, text) pairs to path atomically; returns (documents, text bytes)."""
    tmp = path + ".tmp"
    count = nbytes = 0
    with open(tmp, "w", encoding="utf-8", newline="\n") as out:
        for title, text in docs:
            text = clean(text)
            if not text:
                continue
            out.write(json.dumps({"text": text, "title": clean(title)}, ensure_ascii=False))
            out.write("\n")
            count += 1
            nbytes += len(text.encode("utf-8"))
    os.replace(tmp, path)
    return count, nbytes
