from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.attachments import attachment_validate, attachments_validate
from cases.models import Colour, Ticket, TicketState
from tests.conftest import drive, local, new_ticket


@pytest.fixture
def dispatched(city):
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False):
        return drive(city, new_ticket(city), TicketState.DISPATCHED)


@pytest.mark.parametrize(
    ("moment", "colour"),
    [
        (local(2026, 11, 23, 9, 30), Colour.GREEN),
        (local(2026, 11, 23, 10, 30), Colour.YELLOW),  # 75 % of 2 working hours
        (local(2026, 11, 23, 11, 0), Colour.RED),  # the sign deadline itself
        (local(2026, 11, 30, 9, 0), Colour.RED),
    ],
)
def test_colour_in_python_and_in_sql_agree(dispatched, moment, colour):
    assert dispatched.colour(moment) == colour
    annotated = Ticket.objects.with_colour(moment).get(pk=dispatched.pk)
    assert annotated.deadline_colour == colour
    assert list(Ticket.objects.coloured(colour, moment)) == [dispatched]
    others = {c for c in Colour if c != colour}
    assert not any(Ticket.objects.coloured(c, moment).exists() for c in others)


def test_closed_tickets_have_no_colour(city):
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as clock:
        ticket = drive(city, new_ticket(city), TicketState.CLOSED)
        clock.shift(timedelta(days=30))
        assert ticket.colour() == ""
        assert Ticket.objects.with_colour().get(pk=ticket.pk).deadline_colour == ""


def upload(name, content):
    return SimpleUploadedFile(name, content)


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("a.exe", b"MZ....", "attachment_type"),
        ("a.png", b"", "attachment_empty"),
        ("a.png", b"GIF89a....", "attachment_content"),
        ("a.webp", b"RIFF\x00\x00\x00\x00WAVE", "attachment_content"),
        ("a.pdf", b"<html>", "attachment_content"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(name, content, code):
    with pytest.raises(ValidationError) as exc:
        attachment_validate(upload(name, content))
    assert exc.value.code == code


def test_good_uploads_are_accepted():
    assert attachment_validate(upload("scan.PDF", b"%PDF-1.7 ...")) == "application/pdf"
    assert attachment_validate(upload("p.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ")) == "image/webp"
    assert attachment_validate(upload("p.jpeg", b"\xff\xd8\xff\xe0 JFIF")) == "image/jpeg"


def test_size_and_count_limits(settings):
    settings.ATTACHMENT_MAX_BYTES = 100
    with pytest.raises(ValidationError) as exc:
        attachment_validate(upload("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * 200))
    assert exc.value.code == "attachment_size"
    with pytest.raises(ValidationError) as exc:
        attachments_validate([upload(f"{n}.png", b"\x89PNG\r\n\x1a\n") for n in range(10)])
    assert exc.value.code == "attachment_count"
