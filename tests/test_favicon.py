"""A favicon, served offline: linked from the admin and the public pages, and
``/favicon.ico`` (which browsers ask for regardless) answers with the file."""

from django.contrib.staticfiles import finders
from django.templatetags.static import static


def test_favicon_ico_leads_to_a_real_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == static("cases/favicon.ico")
    path = finders.find("cases/favicon.ico")
    with open(path, "rb") as icon:
        assert icon.read(4) == b"\x00\x00\x01\x00"  # an ICO header


def test_every_page_links_the_icon(client, city):
    icon = f'<link rel="icon" href="{static("cases/favicon.svg")}"'
    assert finders.find("cases/favicon.svg")
    assert icon in client.get("/").content.decode()
    assert icon in client.get("/admin/login/").content.decode()
    client.force_login(city.handler)
    assert icon in client.get("/admin/").content.decode()
