"""``manage.py bench --only suggest``: how good the learned dispatch suggestions
(cases/suggestions.py) are on this database's history, on a time split: train on
the oldest 80% of the closed tickets (by received time), suggest for the newest
20%. Prints top-1 / top-3 accuracy for category and unit, the duty list's own
top-1 for comparison (given the true category, as a dispatcher has it), the CPU
cost, and how many returned tickets the model's top unit would have sent to the
unit that finally closed them. Runs on SQLite or PostgreSQL; writes nothing."""

import time

from departments.models import Department, Grid
from departments.selectors import Territory, duty_suggest

from ..models import Category, Ticket
from ..suggestions import _fit, _neighbour_vectors, evaluate, time_split, training_rows

#: Single suggestions timed one by one (what a form pays per request, model part).
SINGLE_RUNS = 200


def _duty_top1(rows) -> float | None:
    """Share of ``rows`` whose duty-list unit (true category, ticket's territory) closed them."""
    if not rows:
        return None
    places = {
        pk: key
        for pk, *key in Ticket.objects.filter(pk__in=[r.pk for r in rows]).values_list(
            "pk", "grid_id", "community_id", "street_id", "district_id"
        )
    }
    categories = Category.objects.in_bulk({r.category_id for r in rows})
    grids = Grid.objects.in_bulk({k[0] for k in places.values() if k[0]})
    units = Department.objects.in_bulk({u for k in places.values() for u in k[1:] if u})
    cache: dict = {}
    hits = 0
    for row in rows:
        grid, community, street, district = places[row.pk]
        key = (row.category_id, grid, community, street, district)
        if key not in cache:
            territory = Territory(
                grid=grids.get(grid),
                community=units.get(community),
                street=units.get(street),
                district=units.get(district),
            )
            found = duty_suggest(category=categories[row.category_id], territory=territory)
            cache[key] = found[0].pk if found else None
        hits += cache[key] == row.unit_id
    return hits / len(rows)


def suggest_bench(*, max_rows: int | None = None, out=print) -> dict:
    rows = training_rows(max_rows=max_rows)
    head, tail = time_split(rows)
    started = time.process_time()
    trained = _fit(head)
    train_cpu = time.process_time() - started
    accuracy = evaluate(trained, tail)
    singles = tail[:SINGLE_RUNS]
    started = time.process_time()
    for row in singles:
        vector = trained.vectorizer.transform([row.text])
        trained.category.predict_proba(vector)
        trained.unit.predict_proba(vector)
        near = _neighbour_vectors(trained.vectorizer, [row.content], [row.address])
        trained.neighbour_matrix @ near.toarray().ravel()
    single_ms = (time.process_time() - started) / max(len(singles), 1) * 1000
    duty = _duty_top1(tail)

    def pct(value):
        return "—" if value is None else f"{value:.1%}"

    table = [
        ("closed tickets (train / held out)", f"{len(head):,} / {len(tail):,}"),
        ("split", f"by received_at: held out from {tail[0].received_at:%Y-%m-%d %H:%M}" if tail else "—"),
        ("classes (categories / units)", f"{len(trained.category.classes_)} / {len(trained.unit.classes_)}"),
        ("category top-1", pct(accuracy.category_top1)),
        ("category top-3", pct(accuracy.category_top3)),
        ("unit top-1", pct(accuracy.unit_top1)),
        ("unit top-3", pct(accuracy.unit_top3)),
        ("duty list top-1 (true category, for comparison)", pct(duty)),
        (
            "returned tickets whose model top unit closed them (would have avoided the return)",
            f"{pct(accuracy.avoided_share)} ({accuracy.returned_avoided:,} of {accuracy.returned:,})",
        ),
        ("train CPU", f"{train_cpu:.1f} s"),
        (
            "CPU per suggestion, batch / one by one",
            f"{accuracy.seconds_per_suggestion * 1000:.2f} ms / {single_ms:.2f} ms",
        ),
    ]
    width = max(len(name) for name, _v in table)
    out("suggestion accuracy (智能派单), time split 80/20:")
    for name, value in table:
        out(f"  {name:<{width}}  {value}")
    out(
        "  reproduce (a fresh database): python manage.py migrate && "
        f"python manage.py generate_load --tickets {Ticket.objects.count()} && python manage.py bench --only suggest"
    )
    return {"accuracy": accuracy, "duty_top1": duty, "train_cpu": train_cpu, "single_ms": single_ms}
