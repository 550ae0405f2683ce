"""A favicon, served offline: linked from the admin and the public pages, and
``/favicon.ico`` (which browsers ask for regardless) answers with the icon."""

from django.contrib.staticfiles import finders
from django.templatetags.static import static


def test_favicon_ico_answers_with_the_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    with open(finders.find("cases/favicon.ico"), "rb") as icon:
        assert response.content == icon.read()  # the static file, the same bytes


def test_every_page_links_the_icon(client, city):
    icon = f'<link rel="icon" href="{static("cases/favicon.svg")}"'
    assert finders.find("cases/favicon.svg")
    assert icon in client.get("/").content.decode()
    assert icon in client.get("/admin/login/").content.decode()
    client.force_login(city.handler)
    assert icon in client.get("/admin/").content.decode()
