"""Delivery tasks. ``inbox`` queues ``deliver_many`` when it creates deliveries; beat runs
``deliver_due``. Each body imports ``delivery`` (the sender), never ``inbox`` (the
queuer), so queuing and sending stay apart and the import graph has no cycle.
Idempotent: a delivery is claimed atomically before it is sent."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def deliver_many(delivery_ids: list[int]):
    """Send a batch of deliveries (each claimed on its own)."""
    from . import delivery  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    return [delivery.delivery_send(pk) for pk in delivery_ids]


@shared_task(acks_late=True, ignore_result=True)
def deliver_due():
    """Send what is due: deferred SMS after the quiet hours, retries, deliveries
    whose queue message was lost, claims of a worker that died mid-send."""
    from . import delivery  # noqa: PLC0415 - a task imports its service in the body (HackSoft)

    sent = 0
    for delivery_id in delivery.deliveries_due():
        delivery.delivery_send(delivery_id)
        sent += 1
    return sent
