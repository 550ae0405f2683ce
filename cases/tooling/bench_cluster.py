"""``manage.py bench --only cluster``: how well 相似诉求 clusters see the class.

Quality (``cluster.quality``): the labelled paraphrase groups kept with the tests
(tests/cases/data/paraphrases.json, written by hand: 50 groups, 253 demands, hard
negatives in the same family). Families alternate between a tuning half and a
held-out half; the threshold in use (``HOTLINE_CLUSTER_SIMILARITY``) was chosen as
the best F1 on the tuning half, and the held-out half reports it. Each half is
clustered in a fixed shuffled arrival order by ``cases.clustering.assign`` (a text
joins the cluster of its most similar earlier neighbour, clusters of two and more),
and scored pairwise: precision = pairs put together that are one group, recall =
pairs of one group put together. The baseline is the character-bigram Jaccard
similarity used before issue 21, at its old threshold (0.5) and at its own best.

Cost (rows ``cluster.ticket`` / ``cluster.sweep``): one new ticket against its
territory's window, and the sweep's pass over the last hours, on this database,
rolled back."""

import json
import random
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings

from ..clustering import BIGRAM, IN_USE, Method, evaluate

LABELLED = Path(settings.BASE_DIR) / "tests" / "cases" / "data" / "paraphrases.json"
THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 11)]
#: The bigram similarity's threshold before issue 21 (HOTLINE_SIMILARITY).
BIGRAM_BEFORE = 0.5
ORDER_SEED = 21
NO_SYNONYMS = Method(synonyms=False)


def labelled_halves(path: Path = LABELLED) -> tuple[tuple[list, list], tuple[list, list]]:
    """(texts, group ids) of the tuning half (even families) and of the held-out
    half (odd families), each in a fixed shuffled arrival order."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    halves = []
    for parity in (0, 1):
        items = [
            (text, group["id"])
            for index, family in enumerate(data["families"])
            if index % 2 == parity
            for group in family["groups"]
            for text in group["texts"]
        ]
        random.Random(ORDER_SEED).shuffle(items)
        halves.append(([t for t, _g in items], [g for _t, g in items]))
    return halves[0], halves[1]


def best(qualities):
    return max(qualities, key=lambda q: (q.f1, q.precision))


def at(qualities, threshold):
    return next(q for q in qualities if abs(q.threshold - threshold) < 1e-9)


def cluster_quality(out=print) -> dict:
    if not LABELLED.exists():
        out(f"cluster.quality: the labelled set {LABELLED} is not here (a checkout without tests)")
        return {}
    (tune_texts, tune_truth), (held_texts, held_truth) = labelled_halves()
    thresholds = sorted({*THRESHOLDS, settings.HOTLINE_CLUSTER_SIMILARITY, BIGRAM_BEFORE})
    methods = {"tfidf": IN_USE, "tfidf, no normalisation": NO_SYNONYMS, "bigram (before)": BIGRAM}
    started = time.process_time()
    tune = {name: evaluate(tune_texts, tune_truth, m, thresholds) for name, m in methods.items()}
    held = {name: evaluate(held_texts, held_truth, m, thresholds) for name, m in methods.items()}
    cpu_ms = (time.process_time() - started) * 1000 / (len(thresholds) * len(methods) * 2)

    def cell(q):
        return f"{q.precision:5.2f} {q.recall:5.2f} {q.f1:5.2f}"

    out(
        f"cluster.quality: {len(tune_texts)} + {len(held_texts)} labelled demands "
        f"({len(set(tune_truth))} + {len(set(held_truth))} groups), tuning half | held-out half; "
        "pairwise precision recall F1"
    )
    out("  threshold sweep, tuning half:")
    out("    th    | " + " | ".join(f"{name:^17}" for name in methods))
    for i, th in enumerate(thresholds):
        out(f"    {th:4.2f}  | " + " | ".join(f"{cell(tune[name][i]):^17}" for name in methods))
    chosen = settings.HOTLINE_CLUSTER_SIMILARITY
    tune_best = {name: best(q) for name, q in tune.items()}
    rows = [
        ("tfidf (in use)", chosen, "tfidf"),
        ("tfidf, no normalisation", tune_best["tfidf, no normalisation"].threshold, "tfidf, no normalisation"),
        ("bigram, old threshold", BIGRAM_BEFORE, "bigram (before)"),
        ("bigram, its best on tuning", tune_best["bigram (before)"].threshold, "bigram (before)"),
    ]
    out(
        f"  chosen: HOTLINE_CLUSTER_SIMILARITY = {chosen:.2f} (best F1 on the tuning half: "
        f"{tune_best['tfidf'].threshold:.2f}); held-out half reports:"
    )
    out(f"    {'method':<28} th    | precision recall  F1   | pairs put together / true")
    result = {}
    for label, th, name in rows:
        q = at(held[name], th)
        result[label] = q
        out(
            f"    {label:<28} {th:4.2f}  | {q.precision:8.2f} {q.recall:6.2f} {q.f1:5.2f} | "
            f"{q.predicted_pairs:,} / {q.true_pairs:,}"
        )
    out(f"  CPU per clustering of one half (fit, similarities, assignment): {cpu_ms:.1f} ms")
    return result


def cluster_cost_fns():
    """The two cost measures for ``bench.run``: one new ticket, the sweep's pass.
    None when the database has no ticket with a text."""
    from ..clusters import _SIMILAR_FIELDS, clusters_similar_for  # noqa: PLC0415 - the bench's own import
    from ..models import Ticket  # noqa: PLC0415

    newest = Ticket.objects.exclude(content="").only(*_SIMILAR_FIELDS).order_by("-received_at", "-pk").first()
    if newest is None:
        return None, None
    recent = list(
        Ticket.objects.filter(
            received_at__gte=newest.received_at - timedelta(hours=settings.HOTLINE_CLUSTER_SWEEP_HOURS),
            received_at__lte=newest.received_at,
        )
        .exclude(content="")
        .only(*_SIMILAR_FIELDS)
        .order_by("received_at", "pk")[: settings.HOTLINE_CLUSTER_CANDIDATES]
    )
    return (lambda: clusters_similar_for([newest])), (lambda: (len(recent), clusters_similar_for(recent)))
