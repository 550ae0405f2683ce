"""Which demands say the same thing (相似诉求), however the caller words it.

The method: TF-IDF over character n-grams of the normalised text (digits and
punctuation dropped, a small table of hotline synonyms folded: 供暖/采暖/暖器 →
暖气 ...), fitted on the tickets being compared (the window), and cosine
similarity. A new demand joins the cluster of its most similar earlier neighbour
that is in one (:func:`assign`), so the periodic sweep, the per-ticket detection
and the quality measure (bench ``cluster``) group texts by one rule.

Nothing here reads the database or the network; ``cases.clusters`` chooses the
window and writes the clusters."""

import re
from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import normalize

from .text import bigram_similarity, bigrams, char_ngram_vectorizer

_NOISE = re.compile(r"[\s\d\W_a-zA-Z]+", re.UNICODE)

#: Hotline vocabulary that callers say in several ways (and typos they make):
#: each variant is rewritten to the first word. Longer variants first, so a
#: variant inside another does not cut it. Measured in ``bench --only cluster``.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "暖气": ("暖气片", "暖器", "供暖", "采暖", "供热", "取暖", "暖器片"),
    "室温": ("室内温度", "屋里温度", "家里温度"),
    "路灯": ("路登", "照明灯", "路灯杆", "灯杆", "灯柱"),
    "燃气": ("天然气", "煤气"),
    "电动车": ("电动自行车", "电瓶车"),
    "老鼠": ("耗子", "鼠患"),
    "流浪狗": ("流浪犬", "野狗"),
    "建筑垃圾": ("装修垃圾", "渣土"),
    "井盖": ("窨井盖", "井盖子"),
    "烧烤": ("撸串",),
    "不进站": ("甩站", "不靠站", "过站不停"),
    "工资": ("工钱", "薪水"),
    "拖欠": ("克扣", "欠薪", "讨薪"),
}
_VARIANTS = sorted(
    ((variant, word) for word, variants in SYNONYMS.items() for variant in variants), key=lambda p: -len(p[0])
)
_VARIANT_RE = re.compile("|".join(re.escape(v) for v, _w in _VARIANTS))
_CANONICAL = dict(_VARIANTS)
#: How operators open a summary and callers ask for help: in most demands, so they
#: say nothing about which problem it is.
BOILERPLATE = re.compile(
    "市民来电反映|市民反映|市民咨询|来电人称|来电称|来电|您好|你好|麻烦|要求|希望|请求|尽快|解决|处理|一下|我们|我家|家里|反映|咨询"
)


def normalise(text: str, *, synonyms: bool = True) -> str:
    """The demand as compared: lower case, no digits, letters or punctuation,
    synonyms folded, boilerplate dropped (``synonyms=False``: neither). Numbers
    (室温14度, 3号楼) differ between callers of one problem."""
    cleaned = (text or "").lower()
    if synonyms:
        cleaned = BOILERPLATE.sub("", _VARIANT_RE.sub(lambda m: _CANONICAL[m.group(0)], cleaned))
    return _NOISE.sub("", cleaned)


@dataclass(frozen=True)
class Method:
    """How similarity is computed: ``tfidf`` (the method in use) or ``bigram``
    (Jaccard of character-bigram sets, the method before issue 21; the bench's baseline)."""

    kind: str = "tfidf"
    ngrams: tuple[int, int] = (1, 2)
    synonyms: bool = True


IN_USE = Method()
BIGRAM = Method(kind="bigram", ngrams=(2, 2), synonyms=False)


def similarity_matrix(texts: list[str], method: Method = IN_USE):
    """Pairwise similarity of ``texts``: a dense ``n × n`` float32 array. For the
    bench and tests (a few hundred texts); the window uses :func:`vectors`."""
    if method.kind == "bigram":
        sets = [bigrams(t) for t in texts]
        return np.array([[bigram_similarity(a, b) for b in sets] for a in sets], dtype=np.float32)
    matrix = vectors(texts, method)
    return (matrix @ matrix.T).toarray()


def vectors(texts: list[str], method: Method = IN_USE):
    """L2-normalised TF-IDF rows (scipy CSR) of ``texts``, the vectorizer fitted on
    them: a product of two rows is their cosine similarity."""
    cleaned = [normalise(t, synonyms=method.synonyms) for t in texts]
    vectorizer = char_ngram_vectorizer(analyzer="char", ngram_range=method.ngrams)
    try:
        matrix = vectorizer.fit_transform(cleaned)
    except ValueError:  # nothing but digits and punctuation: no n-gram at all
        from scipy.sparse import csr_matrix  # noqa: PLC0415 - only for this corner

        return csr_matrix((len(texts), 1), dtype=np.float32)
    return normalize(matrix.tocsr())


#: A cluster opens from at most this many linked tickets (bounds the search).
MAX_COMPONENT = 200


def assign(neighbours: list[list[tuple[int, float]]], *, min_size: int = 2) -> list[int | None]:
    """Clusters of items that arrive in order 0, 1, 2 …: ``neighbours[i]`` holds the
    earlier items ``(j, similarity)`` at or above the threshold. Item ``i`` joins
    the cluster of its most similar neighbour that is in one, bringing its
    unclustered neighbours along; else, once the unclustered items linked to it
    (through neighbours of neighbours) are ``min_size`` with it, they open a
    cluster. Returns each item's cluster number (None: in none).

    The database detection (``cases.clusters``) follows this rule ticket by ticket."""
    label: list[int | None] = [None] * len(neighbours)
    links: list[list[int]] = [[] for _ in neighbours]
    opened = 0
    for i, near in enumerate(neighbours):
        for j, _s in near:
            links[j].append(i)
            links[i].append(j)
        near = sorted(near, key=lambda p: -p[1])
        joined = next((label[j] for j, _s in near if label[j] is not None), None)
        if joined is not None:
            group = [i, *(j for j, _s in near if label[j] is None)]
        else:
            group = linked(i, lambda k: [m for m in links[k] if label[m] is None])
            if len(group) < min_size:
                continue
            joined, opened = opened, opened + 1
        for j in group:
            label[j] = joined
    return label


def linked(start: int, neighbours_of) -> list[int]:
    """``start`` and what it reaches through ``neighbours_of`` (breadth first, at
    most ``MAX_COMPONENT``)."""
    seen = {start}
    order = [start]
    for node in order:
        for other in neighbours_of(node):
            if other not in seen and len(order) < MAX_COMPONENT:
                seen.add(other)
                order.append(other)
    return order


def neighbours_at(similarity, threshold: float) -> list[list[tuple[int, float]]]:
    """Per item, the earlier items at or above ``threshold`` (from a square matrix)."""
    return [
        [(j, float(similarity[i, j])) for j in range(i) if similarity[i, j] >= threshold]
        for i in range(similarity.shape[0])
    ]


@dataclass(frozen=True)
class Quality:
    threshold: float
    precision: float
    recall: float
    predicted_pairs: int
    true_pairs: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def pairwise_quality(truth: list[str], predicted: list[int | None], threshold: float) -> Quality:
    """Pairwise precision and recall of cluster membership: of the pairs put in
    one cluster, the share truly of one group; of the pairs truly of one group,
    the share put in one cluster. An item in no cluster pairs with nothing."""
    n = len(truth)
    tp = predicted_pairs = true_pairs = 0
    for i in range(n):
        for j in range(i + 1, n):
            same_truth = truth[i] == truth[j]
            same_cluster = predicted[i] is not None and predicted[i] == predicted[j]
            true_pairs += same_truth
            predicted_pairs += same_cluster
            tp += same_truth and same_cluster
    return Quality(
        threshold=threshold,
        precision=tp / predicted_pairs if predicted_pairs else 1.0,
        recall=tp / true_pairs if true_pairs else 1.0,
        predicted_pairs=predicted_pairs,
        true_pairs=true_pairs,
    )


def evaluate(texts: list[str], truth: list[str], method: Method, thresholds, *, min_size: int = 2) -> list[Quality]:
    """Cluster ``texts`` (in the given arrival order) at each threshold and score
    the membership against ``truth`` (a group name per text)."""
    similarity = similarity_matrix(texts, method)
    return [pairwise_quality(truth, assign(neighbours_at(similarity, th), min_size=min_size), th) for th in thresholds]
