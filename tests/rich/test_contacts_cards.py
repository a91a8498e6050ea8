"""Contact cards (vCard) and mini-app cards, including link cards from Open Graph tags."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from rich_helpers import ALICE, LINE_1, PNG, calls

import spectrum_sync as spectrum
from spectrum_sync import CardLayout, Client, Contact, Space
from spectrum_sync.emulator import Emulator

JPEG = b"\xff\xd8\xff\xe0" + bytes(200)
APP = {"team_id": "ABCDE12345", "bundle_id": "com.example.pizza.ext", "app_name": "Pizza"}


# ----- contact cards ------------------------------------------------------------------------


def test_send_a_contact_and_read_it_back(emu: Emulator, client: Client, dm: Space) -> None:
    ann = Contact(name="Ann O'Neil", phones=["+15554443333"], emails=["ann@example.com"],
                  organization="Acme; Inc.", note="line one\nline two")
    sent = dm.send_contact(ann)
    [upload] = calls(emu, "UploadAttachment")
    assert upload.file_name == "Ann_O_Neil.vcf"
    assert b"BEGIN:VCARD" in upload.data and b"FN:Ann O'Neil" in upload.data
    assert sent.contact() == ann
    # A card received from someone else parses the same way.
    card = sent.attachments[0]
    guid = emu.simulate_inbound(ALICE, attachment=("bob.vcf", (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Builder;Bob;;;\r\nTEL;TYPE=CELL:+1 555 222 2222\r\n"
        b"EMAIL:bob@example.com\r\nEND:VCARD\r\n")), line=LINE_1)
    received = client.message(guid)
    assert received.contact() == Contact(name="Bob Builder", phones=["+1 555 222 2222"],
                                         emails=["bob@example.com"])
    assert card.file_name.endswith(".vcf")
    assert dm.send("no card").contact() is None


def test_share_contact_stays(emu: Emulator, dm: Space) -> None:
    dm.share_contact()
    assert [r.chat_guid for r in calls(emu, "ShareContactInfo")] == [dm.id]


@pytest.mark.parametrize("kwargs", [{}, {"name": ""}, {"phones": [""]}, {"emails": [5]},
                                    {"name": "x", "organization": "  "}])
def test_bad_contacts_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(spectrum.ValidationError):
        Contact(**kwargs)  # type: ignore[arg-type]


def test_a_broken_vcard_is_a_clear_error(emu: Emulator, client: Client) -> None:
    guid = emu.simulate_inbound(ALICE, attachment=("x.vcf", b"not a card at all"),
                                line=LINE_1)
    with pytest.raises(spectrum.ValidationError, match="vCard"):
        client.message(guid).contact()
    with pytest.raises(spectrum.ValidationError):
        Contact.from_vcard("BEGIN:VCARD\nVERSION:3.0\nEND:VCARD\n")


def test_send_contact_takes_a_contact(dm: Space) -> None:
    with pytest.raises(spectrum.ValidationError):
        dm.send_contact("Ann")  # type: ignore[arg-type]


# ----- app cards ----------------------------------------------------------------------------


def test_send_and_update_an_app_card(emu: Emulator, dm: Space) -> None:
    layout = CardLayout(caption="Order #42", subcaption="Margherita", image=JPEG,
                        image_title="Pizza", summary="Your order")
    sent = dm.send_app_card("https://pizza.example/o/42", layout, app_store_id=123, **APP)
    [request] = calls(emu, "SendCustomizedMiniAppMessage")
    assert (request.team_id, request.extension_bundle_id, request.app_name) == (
        "ABCDE12345", "com.example.pizza.ext", "Pizza")
    assert request.layout.image == JPEG and request.layout.caption == "Order #42"
    assert request.app_store_id == 123 and not request.HasField("live")
    card = sent.app_card
    assert card is not None and card.session_id and card.url == "https://pizza.example/o/42"
    assert card.layout is not None and card.layout.caption == "Order #42"
    updated = sent.update_app_card(CardLayout(caption="Order #42", subcaption="On its way"))
    [update] = calls(emu, "UpdateCustomizedMiniAppMessage")
    assert update.session.session_id == card.session_id
    assert update.session.target_message_guid == sent.guid
    assert update.layout.subcaption == "On its way" and update.url == card.url
    assert updated.app_card is not None and updated.app_card.session_id == card.session_id
    # Updating the update keeps pointing at the first card.
    updated.update_app_card(url="https://pizza.example/o/42/done")
    assert calls(emu, "UpdateCustomizedMiniAppMessage")[1].session.target_message_guid == (
        sent.guid)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "at least one"),
    ({"summary": "no caption"}, "at least one"),
    ({"caption": "x", "image": JPEG}, "image_title"),
    ({"caption": "x", "image_title": "t"}, "image_title"),
    ({"caption": "x", "image_subtitle": "s"}, "image_subtitle"),
    ({"caption": ""}, "non-empty"),
    ({"caption": "x", "image": PNG, "image_title": "t"}, "JPEG"),
])
def test_layout_rules(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(spectrum.ValidationError, match=message):
        CardLayout(**kwargs)  # type: ignore[arg-type]


def test_bad_cards_are_refused_before_any_call(emu: Emulator, dm: Space) -> None:
    layout = CardLayout(caption="x")
    emu.clear_requests()
    for bad in ({"url": "ftp://x"}, {"url": "not a url"}, {"app_name": ""},
                {"team_id": "abcde12345"}, {"team_id": "SHORT"}, {"bundle_id": "a:b"},
                {"app_store_id": 0}, {"layout": "caption"}):
        args = {"url": "https://x.example", "layout": layout, **APP, **bad}
        with pytest.raises(spectrum.ValidationError):
            dm.send_app_card(**args)  # type: ignore[arg-type]
    with pytest.raises(spectrum.ValidationError):
        dm.send("plain").update_app_card(layout)
    assert [c.method for c in emu.requests] == ["SendTextMessage"]


def test_the_emulator_checks_layouts_too(emu: Emulator, dm: Space) -> None:
    from spectrum_sync._proto import messages_pb2

    request = messages_pb2.SendCustomizedMiniAppMessageRequest(
        chat_guid=dm.id, team_id="ABCDE12345", extension_bundle_id="b", app_name="a",
        url="https://x.example", layout=messages_pb2.MiniAppLayout(summary="only"))
    with pytest.raises(spectrum.ValidationError, match="at least one"):
        dm._ops._call(dm._ops.line(dm.phone), request, 5)  # type: ignore[attr-defined]


def test_inbound_cards_are_on_the_message(emu: Emulator, client: Client) -> None:
    guid = emu.simulate_app_card(ALICE, url="https://game.example/1", caption="Your move",
                                 line=LINE_1)
    card = client.message(guid).app_card
    assert card is not None and card.url == "https://game.example/1"
    assert card.layout == CardLayout(caption="Your move") and card.bundle_id


# ----- link cards (a real HTTP server) ------------------------------------------------------


class _Site(http.server.BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        found = self.pages.get(self.path)
        if found is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", found[0])
        self.end_headers()
        self.wfile.write(found[1])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    _Site.pages = {
        "/article": ("text/html; charset=utf-8", (
            b'<html><head><title>Ignored</title><meta property="og:title" content="Big News">'
            b'<meta property="og:site_name" content="Daily"><meta property="og:description" '
            b'content="All about it"><meta property="og:image" content="/pic.jpg"></head>'
            b"</html>")),
        "/pic.jpg": ("image/jpeg", JPEG),
        "/png-page": ("text/html", b'<meta property="og:title" content="PNG only">'
                                   b'<meta property="og:image" content="/pic.png">'),
        "/pic.png": ("image/png", PNG),
    }
    yield base
    server.shutdown()
    server.server_close()


def test_link_card_from_open_graph(emu: Emulator, dm: Space, site: str) -> None:
    dm.send_link_card(f"{site}/article")
    [request] = calls(emu, "SendCustomizedMiniAppMessage")
    assert request.app_name == "Spectrum"
    assert request.extension_bundle_id == "codes.photon.Spectrum.MessagesExtension"
    layout = request.layout
    assert (layout.caption, layout.subcaption, layout.image_title, layout.summary) == (
        "Big News", "All about it", "Daily", "Big News")
    assert layout.image == JPEG


def test_link_card_leaves_out_a_non_jpeg_image(emu: Emulator, dm: Space, site: str) -> None:
    try:
        import PIL  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("Pillow converts the image: this is the no-imaging-extra path")
    dm.send_link_card(f"{site}/png-page")
    [request] = calls(emu, "SendCustomizedMiniAppMessage")
    assert request.layout.caption == "PNG only" and not request.layout.HasField("image")


def test_link_card_of_a_missing_page_shows_the_host(emu: Emulator, dm: Space,
                                                    site: str) -> None:
    dm.send_link_card(f"{site}/gone", fetch_timeout=2)
    [request] = calls(emu, "SendCustomizedMiniAppMessage")
    assert request.layout.caption == site.split("//")[1]
