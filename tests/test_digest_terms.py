"""What people talked about: hashtags used alongside the event's own, and recurring
words, each counted once per item."""

from __future__ import annotations

import pytest

from aggregator.digest.terms import (
    _NOT_WORDS,
    _WORD,
    STOPWORDS,
    TermCount,
    co_hashtags,
    frequent_terms,
    words,
)


def test_co_hashtags_leave_out_the_events_own_whatever_their_case() -> None:
    tags = [("coproduction", "care"), ("CoProduction", "Care", "nhs"), ("care",)]
    assert co_hashtags(tags, own=("Coproduction",)) == (
        TermCount("care", 3),
        TermCount("nhs", 1),
    )


def test_a_tag_repeated_in_one_item_counts_once() -> None:
    assert co_hashtags([("care", "care", "CARE")], own=()) == (TermCount("care", 1),)


def test_co_hashtags_keep_the_top_twelve_most_used_first_then_alphabetical() -> None:
    tags = [tuple(f"t{n:02}" for n in range(20)), ("t19",)]
    top = co_hashtags(tags, own=())
    assert len(top) == 12
    assert top[0] == TermCount("t19", 2)
    assert [t.term for t in top[1:3]] == ["t00", "t01"]


def test_words_skip_links_mentions_hashtags_numbers_short_words_and_stopwords() -> None:
    text = (
        "The @ana@social.example team shared https://care.example/x?y=1 and www.x.org "
        "about #coproduction in 2026: 42 co-production guides, don't miss them! ok"
    )
    assert words(text) == {"team", "shared", "co-production", "guides", "miss"}


def test_frequent_terms_need_two_items_and_count_each_item_once() -> None:
    texts = [
        "Resources resources RESOURCES for carers",
        "New resources for carers launched",
        "Launched!",
        "unrelated words here",
    ]
    assert frequent_terms(texts) == (
        TermCount("carers", 2),
        TermCount("launched", 2),
        TermCount("resources", 2),
    )


def test_the_events_own_name_is_not_a_frequent_term() -> None:
    texts = ["Coproduction works", "coproduction WORKS", "#coproduction"]
    assert frequent_terms(texts, exclude=("coproduction",)) == (TermCount("works", 2),)


def test_letters_beyond_ascii_are_words() -> None:
    assert words("Zoë’s café, naïve über-ideas") == {"zoë's", "café", "naïve", "über-ideas"}


# The word pattern itself, applied to the whole text: what ``words`` must always agree
# with, whichever shortcut it takes.
def reference_words(text: str) -> set[str]:
    found = set(_WORD.findall(_NOT_WORDS.sub(" ", text).casefold().replace("’", "'")))
    return {w for w in found if len(w) >= 3 and w not in STOPWORDS}


@pytest.mark.parametrize(
    "text",
    [
        "plain words only here",
        "Great talk, thanks! (really) “quoted” ‘single’ — dash – dash",
        "co-production's 2nd #1 day: care_home x_y z9z 3rd ab²",
        "' - -- ' a- -b don’t l’été",
        "Ünïcödé STRASSE straße İstanbul ǅemal",
        "emoji🎉between words🎉 and 🎉 alone",
        "tabs\tand\u00a0no-break\u2028separators\nnewlines",
        "WWW.EXAMPLE.ORG/path hello@example.org #Tag @user@server.example http://x.y/z",
        "",
    ],
)
def test_words_agree_with_the_word_pattern_on_the_whole_text(text: str) -> None:
    assert words(text) == reference_words(text)
