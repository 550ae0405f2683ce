"""Similarity of short Chinese texts without a word segmenter: character bigrams.

Chinese has no spaces, but two complaints about the same thing share most of their
two-character sequences ("暖气", "不热", "室温"...). Jaccard similarity of the
bigram sets is a good, cheap first cut for duplicates and clusters."""

import re

_NOISE = re.compile(r"[\s\d\W_]+", re.UNICODE)


def bigrams(text: str) -> frozenset[str]:
    cleaned = _NOISE.sub("", text or "").lower()
    if len(cleaned) < 2:
        return frozenset({cleaned}) if cleaned else frozenset()
    return frozenset(cleaned[i : i + 2] for i in range(len(cleaned) - 1))


def char_ngrams(text: str) -> list[str]:
    """The characters and character bigrams of a text, with repeats (for term
    weighting: a search index counts how often each occurs)."""
    cleaned = _NOISE.sub("", text or "").lower()
    return [*cleaned, *(cleaned[i : i + 2] for i in range(len(cleaned) - 1))]


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the bigram sets, 0.0 … 1.0."""
    return bigram_similarity(bigrams(a), bigrams(b))


def bigram_similarity(x: set, y: set) -> float:
    """:func:`similarity` of bigram sets already made (one text against many)."""
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


def char_ngram_vectorizer(*, analyzer="char_wb", ngram_range=(1, 3), max_features=None, min_df=1):
    """The TF-IDF featurizer over character n-grams (Chinese needs no word
    segmenter): the dispatch suggestions' features and the clusters' similarity."""
    import numpy as np  # noqa: PLC0415 - scikit-learn is heavy; intake imports this module for bigrams
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415

    return TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=ngram_range,
        max_features=max_features,
        min_df=min_df,
        sublinear_tf=True,
        dtype=np.float32,
    )
