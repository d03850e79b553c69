#!/usr/bin/env python3
"""Verify rust_book_questions.json against the Rust book HTML shipped with the toolchain.

Usage:
    python3 check_questions.py [QUESTIONS_JSON] [--book BOOK_DIR]

BOOK_DIR defaults to $RUST_BOOK_DIR, else `$(rustc --print sysroot)/share/doc/rust/html/book`.
Exits non-zero if any entry fails a check.

Checks, per entry:
  * keys are exactly question/page/evidence, all non-empty strings;
  * `page` is a bare file name that exists in the book directory, is linked from the
    book's table of contents (toc.html), is not a redirect stub, and is not one of the
    aggregate/navigation pages (print.html, index.html, toc.html, SUMMARY.html, ...);
  * `evidence` has 5-15 words and is a verbatim substring of the page's visible main
    text (contents of <main>, <script>/<style> dropped, tags stripped, entities
    unescaped, whitespace collapsed);
  * the question does not copy the evidence (no shared run of 6+ words).
Globally: >= 40 entries, >= 20 distinct pages, no duplicate questions.
Evidence that also occurs on another book page is reported as a warning only.
"""
import argparse
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JSON = os.path.join(HERE, "rust_book_questions.json")
FORBIDDEN_PAGES = {
    "print.html", "index.html", "toc.html", "SUMMARY.html", "README.html",
    "title-page.html", "404.html",
}
MIN_QUESTIONS, MIN_PAGES = 40, 20
MIN_WORDS, MAX_WORDS = 5, 15
COPY_NGRAM = 6


class MainText(HTMLParser):
    """Collects the text inside <main>, skipping <script> and <style>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)  # unescapes entities in data
        self.in_main = 0
        self.skip = 0
        self.parts = []

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.in_main += 1
        elif tag in ("script", "style"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag == "main":
            self.in_main = max(0, self.in_main - 1)
        elif tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)

    def handle_data(self, data):
        if self.in_main and not self.skip:
            self.parts.append(data)


def collapse(s):
    return re.sub(r"\s+", " ", s).strip()


def page_text(path):
    p = MainText()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    p.close()
    return collapse("".join(p.parts))


def find_book_dir(explicit):
    if explicit:
        return explicit
    if os.environ.get("RUST_BOOK_DIR"):
        return os.environ["RUST_BOOK_DIR"]
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], capture_output=True,
                             text=True, check=True).stdout.strip()
    return os.path.join(sysroot, "share", "doc", "rust", "html", "book")


def words(s):
    return re.findall(r"\w+", s.lower())


def ngrams(ws, n):
    return {tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json", nargs="?", default=DEFAULT_JSON)
    ap.add_argument("--book", default=None)
    args = ap.parse_args()

    book = find_book_dir(args.book)
    if not os.path.isdir(book):
        print(f"FAIL: book directory not found: {book}")
        return 2
    with open(os.path.join(book, "toc.html"), encoding="utf-8") as f:
        toc_pages = set(re.findall(r'href="([^"#?]+\.html)', f.read()))

    cache = {}

    def text_of(name):
        if name not in cache:
            cache[name] = page_text(os.path.join(book, name))
        return cache[name]

    with open(args.json, encoding="utf-8") as f:
        data = json.load(f)

    failures, warnings = [], []
    if not isinstance(data, list):
        print("FAIL: top-level JSON value is not an array")
        return 1

    seen_q = set()
    pages = set()
    for i, e in enumerate(data):
        tag = f"#{i}"
        if not isinstance(e, dict) or set(e) != {"question", "page", "evidence"} or \
                not all(isinstance(e[k], str) and e[k].strip() for k in e):
            failures.append(f"{tag}: entry must have exactly non-empty string keys question/page/evidence")
            continue
        q, page, ev = e["question"], e["page"], e["evidence"]
        tag = f"#{i} [{page}]"
        if q.strip().lower() in seen_q:
            failures.append(f"{tag}: duplicate question: {q!r}")
        seen_q.add(q.strip().lower())

        path = os.path.join(book, page)
        if "/" in page or "\\" in page or page != os.path.basename(page):
            failures.append(f"{tag}: page must be a bare file name")
            continue
        if page in FORBIDDEN_PAGES:
            failures.append(f"{tag}: page {page} is an aggregate/navigation page")
            continue
        if not os.path.isfile(path):
            failures.append(f"{tag}: page file does not exist")
            continue
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        if 'http-equiv="refresh"' in raw:
            failures.append(f"{tag}: page is a redirect stub")
            continue
        if page not in toc_pages:
            failures.append(f"{tag}: page is not linked from toc.html")
            continue
        pages.add(page)

        nw = len(ev.split())
        if not (MIN_WORDS <= nw <= MAX_WORDS):
            failures.append(f"{tag}: evidence has {nw} words (want {MIN_WORDS}-{MAX_WORDS}): {ev!r}")
        if collapse(ev) != ev:
            failures.append(f"{tag}: evidence has non-collapsed whitespace: {ev!r}")
        if ev not in text_of(page):
            failures.append(f"{tag}: evidence not found verbatim in page text: {ev!r}")
        shared = ngrams(words(q), COPY_NGRAM) & ngrams(words(ev), COPY_NGRAM)
        if shared:
            failures.append(f"{tag}: question copies evidence ({' '.join(next(iter(shared)))!r})")

        others = [p for p in sorted(toc_pages) if p != page and p not in FORBIDDEN_PAGES
                  and os.path.isfile(os.path.join(book, p)) and ev in text_of(p)]
        if others:
            warnings.append(f"{tag}: evidence also appears on {', '.join(others)}")

    if len(data) < MIN_QUESTIONS:
        failures.append(f"only {len(data)} entries (need >= {MIN_QUESTIONS})")
    if len(pages) < MIN_PAGES:
        failures.append(f"only {len(pages)} distinct pages (need >= {MIN_PAGES})")

    for w in warnings:
        print("WARN:", w)
    for msg in failures:
        print("FAIL:", msg)
    print(f"book: {book}")
    print(f"entries: {len(data)}, distinct pages: {len(pages)}, "
          f"failures: {len(failures)}, warnings: {len(warnings)}")
    print("OK" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
