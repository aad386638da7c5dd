"""What people talked about: the hashtags used alongside the event's own, and the words
that recur in what they wrote.

Both count *items*, not occurrences: one post repeating a word ten times (or a tag
stuffed with variants) counts once, so a single loud post cannot top the list. Terms
need at least two items to be "frequent"; a hashtag used once is still shown, since
choosing a tag is deliberate in a way that using a word is not.

Pure: no store, no templates.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

TOP = 12
MIN_TERM_ITEMS = 2

# A small, plain English list: enough to keep "the" and "about" out of the top twelve
# without pulling in a language-processing dependency for one box on a page.
STOPWORDS = frozenset(
    """
    about above after again against all also and any are aren't because been before being
    below between both but can can't cannot could couldn't did didn't does doesn't doing
    don't down during each even ever every few for from further get gets got had hadn't has
    hasn't have haven't having her here here's hers herself him himself his how how's i'd
    i'll i'm i've into isn't it's its itself just let's like made make many more most much
    must mustn't myself nor not now off once one only other ought our ours ourselves out
    over own really same see shan't she she'd she'll she's should shouldn't some still such
    than that that's the their theirs them themselves then there there's these they they'd
    they'll they're they've thing things this those through too under until very via was
    wasn't way we'd we'll we're we've were weren't what what's when when's where where's
    which while who who's whom why why's will with won't would wouldn't yes yet you you'd
    you'll you're you've your yours yourself yourselves today day new people going know
    think want need well
    """.split()  # noqa: SIM905 (a paragraph of words is easier to read and extend)
)

# Removed before words are read: links, @mentions (Mastodon's @name@server too) and
# hashtags are not words someone chose to say.
_NOT_WORDS = re.compile(
    r"""https?://\S+ | www\.\S+ | @[\w.-]+(?:@[\w.-]+)? | \#\w+""",
    re.VERBOSE | re.IGNORECASE,
)
# Letters, with inner apostrophes or hyphens ("don't", "co-production"); digits never.
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
# ASCII punctuation that is never part of a word (apostrophes and hyphens can be).
_EDGES = "".join(c for c in string.punctuation if c not in "'-")


@dataclass(frozen=True, slots=True)
class TermCount:
    term: str
    count: int
    """Items that use it."""


def co_hashtags(
    tag_lists: Iterable[Iterable[str]], own: Iterable[str], *, top: int = TOP
) -> tuple[TermCount, ...]:
    """Hashtags used alongside the event's own (``own``, compared case-insensitively),
    most items first, ties alphabetically."""
    counts = Counter(
        chain.from_iterable({t.casefold().lstrip("#") for t in tags} for tags in tag_lists)
    )
    for tag in {t.casefold().lstrip("#") for t in own} | {""}:
        counts.pop(tag, None)
    return _top(counts, top, minimum=1)


def words(text: str) -> set[str]:
    """The distinct words of ``text`` worth counting, lower-cased."""
    return {w for w in _tokens(text) if len(w) >= 3} - STOPWORDS


def _tokens(text: str) -> set[str]:
    """:func:`words` with the short ones and the stopwords left in:
    :func:`frequent_terms` drops those once per distinct word of the period, not once
    in every item."""
    # This runs on every item of a busy day, so the regular expressions run only where
    # they can change something. Every link, mention and tag has one of these in it:
    if "@" in text or "#" in text or "://" in text or "w." in text or "W." in text:
        text = _NOT_WORDS.sub(" ", text)
    # No word spans white space, so the text's distinct tokens can be read one by one,
    # and most are words as they stand.
    found = set(text.casefold().split())
    if not "".join(found).isalpha():
        found = _token_words(found)
    return found


def _token_words(tokens: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for token in tokens:
        if token.isalpha():
            found.add(token)
            continue
        bare = token.strip(_EDGES)  # "word," "(word)"
        if bare.isalpha():
            found.add(bare)
        else:
            found.update(_WORD.findall(token.replace("’", "'")))
    return found


def frequent_terms(
    texts: Iterable[str], exclude: Iterable[str] = (), *, top: int = TOP
) -> tuple[TermCount, ...]:
    """Words used in at least two items, most items first, ties alphabetically.

    ``exclude`` (the event's own hashtags, say) is left out: every item is about the
    event, so its name tells nobody anything."""
    # One count over every item's words, then the excluded, the stopwords and the
    # short ones dropped: the same numbers as leaving them out of each item, without
    # a set operation per item.
    counts = Counter(chain.from_iterable(map(_tokens, texts)))
    for term in STOPWORDS.union(t.casefold().lstrip("#") for t in exclude):
        counts.pop(term, None)
    for term in [t for t in counts if len(t) < 3]:
        del counts[term]
    return _top(counts, top, minimum=MIN_TERM_ITEMS)


def _top(counts: Counter[str], top: int, *, minimum: int) -> tuple[TermCount, ...]:
    ranked = sorted(
        (kv for kv in counts.items() if kv[1] >= minimum), key=lambda kv: (-kv[1], kv[0])
    )
    return tuple(TermCount(term, n) for term, n in ranked[:top])
