"""Minimal reader for R's serialization format and lazy-load databases (stdlib only).

Written from the format itself (R Internals, "Serialization Formats"), to read the character
vectors that R data packages ship, e.g. Debian's r-cran-janeaustenr, without installing R.

What is understood:
  * XDR ("X\\n") serialization, versions 2 and 3 (v3 adds a native-encoding header);
  * vectors: STRSXP/CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP, RAWSXP, VECSXP, EXPRSXP;
  * pairlists (LISTSXP and friends), symbols, attributes, the back-reference table,
    environments and ALTREP wrappers (enough to walk a data frame or a named list).
Anything else (byte code, external pointers, ...) raises ValueError: a data package should
not need it, and failing loudly beats returning half an object.

Values come back as plain Python: character vectors -> list[str | None] (None = NA),
numeric vectors -> list, lists -> list, pairlists -> list of (tag, value), symbols -> RSymbol.
Attributes, when present, are on an RObject wrapper (.value, .attributes dict).

Lazy-load databases (pkg/data/Rdata.rdx + Rdata.rdb): the .rdx is a gzip-compressed
serialized list(variables = named list of c(offset, length), references, compressed); each
record in the .rdb at [offset, offset+length) is a 4-byte big-endian uncompressed length then
a zlib stream (compression type 1; types 2/3 add a type byte and use bzip2 or xz).

CLI:  rdata.py DB_PREFIX            list the variables (DB_PREFIX = .../data/Rdata)
      rdata.py DB_PREFIX NAME       print variable NAME (character vectors: one per line)
"""

import bz2
import gzip
import lzma
import struct
import sys
import zlib

# SEXP type codes (R Internals) that this reader handles.
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP, STRSXP = 9, 10, 13, 14, 15, 16
DOTSXP, VECSXP, EXPRSXP, RAWSXP, S4SXP = 17, 19, 20, 24, 25
# Pseudo-types used only in the serialization stream.
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP = 255, 254, 253, 252
MISSINGARG_SXP, BASENAMESPACE_SXP, NAMESPACESXP, PACKAGESXP = 251, 250, 249, 248
PERSISTSXP, EMPTYENV_SXP, BASEENV_SXP = 247, 242, 241
ATTRLANGSXP, ATTRLISTSXP, ALTREP_SXP = 240, 239, 238

NA_INTEGER = -(2 ** 31)
# CHARSXP encoding bits in the "levels" field of the flags word.
LATIN1_MASK, BYTES_MASK = 1 << 2, 1 << 1


class RSymbol(str):
    """An R symbol (name); a str subclass so tags compare equal to plain strings."""


class RObject:
    """A value that carried attributes (names, class, row.names, ...)."""

    def __init__(self, value, attributes):
        self.value = value
        self.attributes = attributes

    def __repr__(self):
        return "RObject(%r, attrs=%r)" % (type(self.value).__name__, list(self.attributes))


class RSpecial:
    """Environments and other singletons that data never needs the contents of."""

    def __init__(self, kind):
        self.kind = kind

    def __repr__(self):
        return "<R %s>" % self.kind


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.refs = []  # symbols, environments, ... in the order they were first written

    def bytes(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("R serialization: truncated stream")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self):
        return struct.unpack(">i", self.bytes(4))[0]

    def length(self):
        n = self.int()
        if n == -1:  # long vector: two more ints, upper and lower 32 bits
            hi, lo = struct.unpack(">II", self.bytes(8))
            n = (hi << 32) | lo
        return n

    def header(self):
        fmt = self.bytes(2)
        if fmt != b"X\n":
            raise ValueError("R serialization: only the XDR format is supported, got %r" % fmt)
        version = self.int()
        self.int()  # R version that wrote it
        self.int()  # minimal R version to read it
        if version == 3:
            self.bytes(self.int())  # native encoding name, e.g. "UTF-8"
        elif version != 2:
            raise ValueError("R serialization: unsupported version %d" % version)

    def item(self):
        flags = self.int()
        kind = flags & 0xFF
        levels = flags >> 12
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))

        if kind == NILVALUE_SXP:
            return None
        if kind in (EMPTYENV_SXP, BASEENV_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP,
                    MISSINGARG_SXP, BASENAMESPACE_SXP):
            return RSpecial(kind)
        if kind == REFSXP:
            index = flags >> 8
            if index == 0:
                index = self.int()
            return self.refs[index - 1]
        if kind in (PERSISTSXP, NAMESPACESXP, PACKAGESXP):
            # A STRSXP-like list of names identifying the object; keep it as a marker.
            self.int()  # always 0
            names = [self.item() for _ in range(self.int())]
            special = RSpecial("namespace %s" % names)
            self.refs.append(special)
            return special
        if kind == SYMSXP:
            sym = RSymbol(self.item() or "")
            self.refs.append(sym)
            return sym
        if kind == ENVSXP:
            env = RSpecial("environment")
            self.refs.append(env)  # registered before its contents, which may refer to it
            self.int()  # locked
            env.enclos, env.frame, env.hashtab, env.attributes = (
                self.item(), self.item(), self.item(), self.item())
            return env
        if kind in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP):
            return self.pairlist(flags)
        if kind == ALTREP_SXP:
            self.item()  # class info: (class symbol, package symbol, type)
            state = self.item()
            attr = self.item()
            return self.wrap(state, attr)
        if kind == CHARSXP:
            n = self.int()
            if n == -1:
                return None  # NA_STRING
            raw = self.bytes(n)
            if levels & BYTES_MASK:
                return raw.decode("utf-8", "replace")
            if levels & LATIN1_MASK:
                return raw.decode("latin-1")
            return raw.decode("utf-8", "replace")  # UTF-8, ASCII or native (assumed UTF-8)

        if kind in (LGLSXP, INTSXP):
            n = self.length()
            vals = list(struct.unpack(">%di" % n, self.bytes(4 * n)))
            value = [None if v == NA_INTEGER else v for v in vals]
        elif kind == REALSXP:
            n = self.length()
            value = list(struct.unpack(">%dd" % n, self.bytes(8 * n)))
        elif kind == CPLXSXP:
            n = self.length()
            parts = struct.unpack(">%dd" % (2 * n), self.bytes(16 * n))
            value = [complex(parts[i], parts[i + 1]) for i in range(0, 2 * n, 2)]
        elif kind == RAWSXP:
            value = self.bytes(self.length())
        elif kind == STRSXP:
            value = [self.item() for _ in range(self.length())]
        elif kind in (VECSXP, EXPRSXP):
            value = [self.item() for _ in range(self.length())]
        elif kind == S4SXP:
            value = RSpecial("S4 object")
        else:
            raise ValueError("R serialization: unsupported SEXP type %d at byte %d"
                             % (kind, self.pos - 4))
        return self.wrap(value, self.item() if has_attr else None)

    def pairlist(self, flags):
        # Read iteratively along the CDR chain: long pairlists would overflow recursion.
        cells = []
        attrs = None
        while True:
            has_attr = bool(flags & (1 << 9))
            has_tag = bool(flags & (1 << 10))
            cell_attr = self.item() if has_attr else None
            if attrs is None:
                attrs = cell_attr
            tag = self.item() if has_tag else None
            cells.append((tag, self.item()))
            flags = self.int()
            kind = flags & 0xFF
            if kind not in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP):
                self.pos -= 4
                rest = self.item()  # normally NILVALUE
                if rest is not None:
                    cells.append((None, rest))
                break
        return self.wrap(cells, attrs)

    @staticmethod
    def wrap(value, attr_pairlist):
        if attr_pairlist is None:
            return value
        cells = attr_pairlist.value if isinstance(attr_pairlist, RObject) else attr_pairlist
        return RObject(value, {str(tag): val for tag, val in cells})


def unserialize(data):
    """Decode one serialized R object (bytes starting with "X\\n")."""
    reader = _Reader(data)
    reader.header()
    return reader.item()


def plain(value):
    """Strip an RObject wrapper, keeping the value."""
    return value.value if isinstance(value, RObject) else value


def names_of(value):
    """The names attribute of a vector, or None."""
    if isinstance(value, RObject):
        return plain(value.attributes.get("names"))
    return None


def _decompress_record(blob):
    (size,) = struct.unpack(">I", blob[:4])
    body = blob[4:]
    # compress = 1 (the default) stores a bare zlib stream, which starts with 0x78; types 2
    # and 3 put one byte first: '2' bzip2, 'Z' xz, '0' stored uncompressed.
    kind = body[:1]
    if kind == b"2":
        out = bz2.decompress(body[1:])
    elif kind == b"Z":
        out = lzma.decompress(body[1:])
    elif kind == b"0":
        out = body[1:]
    else:
        out = zlib.decompress(body)
    if len(out) != size:
        raise ValueError("lazy-load record: expected %d bytes, got %d" % (size, len(out)))
    return out


class LazyLoadDB:
    """R's lazy-load database: PREFIX.rdx (index) + PREFIX.rdb (records)."""

    def __init__(self, prefix):
        with open(prefix + ".rdx", "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        index = unserialize(raw)
        fields = dict(zip(names_of(index), plain(index)))
        var_names = names_of(fields["variables"]) or []
        self.variables = {name: plain(loc) for name, loc in
                          zip(var_names, plain(fields["variables"]))}
        with open(prefix + ".rdb", "rb") as f:
            self.rdb = f.read()

    def names(self):
        return list(self.variables)

    def get(self, name):
        offset, length = (int(x) for x in self.variables[name])
        return unserialize(_decompress_record(self.rdb[offset:offset + length]))


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    db = LazyLoadDB(argv[1])
    if len(argv) == 2:
        for name in db.names():
            print(name)
        return
    value = plain(db.get(argv[2]))
    if isinstance(value, list) and all(v is None or isinstance(v, str) for v in value):
        for v in value:
            print("NA" if v is None else v)
    else:
        print(repr(value))


if __name__ == "__main__":
    main(sys.argv)
