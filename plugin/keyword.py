"""The words clause: the shopper's words against the title, the attributes and the description.

Shoppers type attribute values ("red ankle boots", "black casual shoes for men"). Two parts:

- **Recognised values.** Words (and phrases of up to three words) that name a value the index
  holds for an attribute (a `Vocabulary`, read once per Searcher) become boosted `term`
  clauses on that attribute's folded sub-field: "black" finds colour Black, "casual shoes"
  article type Casual Shoes, "men" gender Men. A few product-type words the catalog has no
  value for map to the category they belong to (`TYPE_WORDS`: "boots" is Footwear), so a red
  handbag does not outrank red footwear for "red ankle boots".
- **Text.** The words also go into one `multi_match` of type `cross_fields` over the title,
  the attributes copied into `attributes_text` (English analysis: "boots" matches "Boot") and
  the description, as if they were one field; `MINIMUM_SHOULD_MATCH` is the rule chosen by
  bench/relevance.py.

Words travel as analysed text, never query syntax: `OR`, quotes and `*` are just words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from visearch.mappings.fields import ATTRIBUTES_TEXT, FOLDED
from visearch.plugin.filters import Clause
from visearch.plugin.values import fold

TEXT_FIELDS = ("title^2", f"{ATTRIBUTES_TEXT}^1.5", "description^0.5")
MINIMUM_SHOULD_MATCH = "2<-34%"  # up to 2 words: all; more: all but a third
VALUE_BOOST = 4.0  # a recognised attribute value against a BM25 text score of a few points
MAX_PHRASE_WORDS = 3
# Words for a kind of product that no catalog value spells: the category they fall under.
TYPE_WORDS: Mapping[str, Mapping[str, str]] = {
    "boot": {"category": "Footwear"},
    "sneaker": {"category": "Footwear"},
    "trainer": {"category": "Footwear"},
    "pump": {"category": "Footwear"},
    "loafer": {"category": "Footwear"},
    "purse": {"category": "Accessories"},
    "bag": {"category": "Accessories"},
    "tee": {"article_type": "Tshirts"},
    "hoodie": {"article_type": "Sweatshirts"},
    "pant": {"subcategory": "Bottomwear"},
    "trouser": {"subcategory": "Bottomwear"},
}
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> tuple[str, ...]:
    """Folded words, each without a plural "s" ("T-Shirts" -> ("t", "shirt"), "shoes" ->
    "shoe"), so query and value spellings meet."""
    return tuple(_singular(word) for word in _WORD.findall(fold(text)))


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@dataclass(frozen=True)
class Vocabulary:
    """Attribute values the index holds, by their words: ("casual", "shoe") -> article_type
    Casual Shoes. Built from one terms aggregation per Searcher (`from_values`)."""

    phrases: Mapping[tuple[str, ...], tuple[tuple[str, str], ...]] = field(default_factory=dict)
    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """attribute -> the values it holds, as stored."""
    complete: frozenset[str] = frozenset()
    """Attributes whose every value is in `values` (not cut at the aggregation's size)."""

    @classmethod
    def from_values(
        cls, values: Mapping[str, Iterable[str]], complete: Iterable[str] | None = None
    ) -> Vocabulary:
        """`values`: attribute -> the values it holds (as stored); `complete`: the attributes
        listed in full (all of them by default)."""
        held = {name: tuple(found) for name, found in values.items()}
        phrases: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for name, found in held.items():
            for value in found:
                key = words(value)
                if 0 < len(key) <= MAX_PHRASE_WORDS:
                    phrases.setdefault(key, []).append((name, value))
                if len(key) == 2 and key[0] == "t":  # "T-Shirts" is typed "tshirt" as often
                    phrases.setdefault(("t" + key[1],), []).append((name, value))
        listed = frozenset(held if complete is None else complete)
        return cls({key: tuple(found) for key, found in phrases.items()}, held, listed)

    def recognise(self, keywords: str) -> list[tuple[tuple[str, str], ...]]:
        """The values the words name, longest phrases first; each entry is one concept (a
        colour word names both colour and colour group)."""
        tokens = list(words(keywords))
        found: list[tuple[tuple[str, str], ...]] = []
        at = 0
        while at < len(tokens):
            for size in range(min(MAX_PHRASE_WORDS, len(tokens) - at), 0, -1):
                phrase = tuple(tokens[at : at + size])
                match = self.phrases.get(phrase)
                if match is None and size == 1 and phrase[0] in TYPE_WORDS:
                    match = tuple(TYPE_WORDS[phrase[0]].items())
                if match is not None:
                    found.append(match)
                    at += size
                    break
            else:
                at += 1
        return found


EMPTY = Vocabulary()


def keyword_clause(keywords: str, vocabulary: Vocabulary = EMPTY) -> Clause:
    """Products whose text matches enough of the words, ranked up by every recognised value."""
    text: Clause = {
        "multi_match": {
            "query": keywords,
            "type": "cross_fields",
            "fields": list(TEXT_FIELDS),
            "minimum_should_match": MINIMUM_SHOULD_MATCH,
        }
    }
    values = [_value_clause(concept) for concept in vocabulary.recognise(keywords)]
    if not values:
        return text
    return {"bool": {"should": [text, *values], "minimum_should_match": 1}}


def _value_clause(concept: Sequence[tuple[str, str]]) -> Clause:
    terms = [
        {"term": {f"{name}.{FOLDED}": {"value": value, "boost": VALUE_BOOST}}}
        for name, value in concept
    ]
    return terms[0] if len(terms) == 1 else {"dis_max": {"queries": terms}}
