"""Given names in Latin letters inside Korean chat, with no other cue: "Olivia 엄마가 영어로만 말해서", "Sofia가
한국 번호 개통했대", "데이팅앱 첫 메시지: 안녕하세요 Sophie예요".

A capitalised Latin word in a line with Hangul is a name when it is a given name of the US Census 1990 lists
(5,494 names, public domain, as the `names` package ships them) or of a few more common abroad, and is not a
word such lines use for something else (months, brands, places); up to two capitalised words right after it
are its surname ("Mateo Garcia", "Tran Minh Duc"). Romanised Korean surnames alone ("Lee", "Kim") are left to
the rules that see a title ("Dr. Lee", "Kim 대리"), and a name the public-figure list holds ("Taylor Swift") is
kept. Measured on the labelled sets 1-10 before the vetoes: 165 words of NAME spans, 4 words outside any pii span.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from .name_patterns import _ROM_SURNAME
from .public_figures import PUBLIC_FIGURES_LATIN

# Given names the census lists lack, common among the foreigners Korean users write about.
_MORE = ("Lukas Luca Mateo Matteo Diego Marco Priya Minh Hiroshi Yuki Haruto Sakura Yui Kenji Aiko Wei Ming Jun Yeji "
         "Anh Linh Arjun Ravi Aisha Fatima Omar Ali Hassan Yusuf Sven Lars Elif Emre Dmitri Ivan Natasha Sasha Chen").split()
# Census names that Korean chat mostly writes as something else: months, brands, places, food, words.
_NOT_NAMES = frozenset((
    "January April May June July August Monday Friday Sunday Christmas Easter "
    "Chanel Tiffany Mercedes Porsche Dior Celine Prada Nike Zara Tesla Alexa Siri Cartier Hermes Jordan "
    "Paris London Sydney Florence Georgia Virginia Carolina Berlin Vienna Asia China India Israel Dakota "
    "Jelly Candy Cherry Honey Ginger Olive Pepper Berry Coco "
    "Will Bill Love Happy Sky Star Summer Autumn Winter Rock Gold Silver Royal Prince King Major Young Sharp").split())
_SURNAMES = frozenset(_ROM_SURNAME.split("|"))
# A capitalised word, maybe with a capitalised surname after it; not part of an address, handle, e-mail or URL.
_CANDIDATE = re.compile(r"(?<![A-Za-z0-9@._/#:-])(?P<first>[A-Z][a-z]{1,14})(?P<last>(?:\s[A-Z][a-z]{1,14}){0,2})"
                        r"(?![A-Za-z0-9@_/#-]|\.[A-Za-z]|\s?(?:St|Ave|Rd|Road|Street|Dr|Blvd|Lane)\b)")
_HANGUL = re.compile(r"[가-힣]")


@lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    """The census given names (title case) plus _MORE, minus _NOT_NAMES and romanised Korean surnames."""
    pkg = resources.files("names")
    out = {line.split()[0].title() for f in ("dist.male.first", "dist.female.first")
           for line in pkg.joinpath(f).read_text(encoding="utf-8").splitlines() if line.strip()}
    return frozenset((out | set(_MORE)) - _NOT_NAMES - _SURNAMES)


def latin_names(text: str) -> list[tuple[int, int]]:
    """(start, end) of each Latin-letter given name (with its surname) in a line that has Hangul."""
    if not _HANGUL.search(text) or not re.search(r"[A-Z][a-z]", text):
        return []
    known = given_names()
    out = []
    for m in _CANDIDATE.finditer(text):
        if m.group("first") not in known:
            continue
        end = m.end("first")
        for w in re.finditer(r"\s(\w+)", m.group("last")):  # the surname(s) after it, up to a word that is none
            if w.group(1) in _NOT_NAMES:
                break
            end = m.start("last") + w.end()
        name = text[m.start("first"):end]
        if name.lower().replace(" ", "") in PUBLIC_FIGURES_LATIN:
            continue
        out.append((m.start("first"), end))
    return out
