"""Attachments: the decrypted file for a caller entitled to the body, as a download that a
browser never renders; nothing (404) for anyone else."""

from __future__ import annotations

import base64

from tests.support.dsl import Workspace, assert_problem

PDF = b"%PDF-1.4 " + bytes(range(256)) * 4
PAGE = b"<script>alert(1)</script>"


def _with_attachments() -> bytes:
    encoded = base64.encodebytes(PDF).decode().replace("\n", "\r\n")
    return (
        "From: carol@customer.com\r\nTo: bob@acme.com\r\nSubject: The contract\r\n"
        "Date: Mon, 02 Jun 2025 10:00:00 +0000\r\nMessage-ID: <att1@customer.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        "--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment;"
        " filename*=utf-8''contrat%20sign%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{encoded}\r\n"
        '--b\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename="page.html"\r\n\r\n'
        f"{PAGE.decode()}\r\n--b--\r\n"
    ).encode()


def test_the_owner_and_a_share_download_the_file_and_others_get_404(acme: Workspace) -> None:
    alice = acme.add_member("Alice", "alice@acme.com")
    box = acme.connect_upload(acme.admin, "bob@acme.com")
    response = acme.post_message(acme.admin, box, _with_attachments())
    assert response.status_code == 201, response.text
    email_id = acme.client.get("/emails", headers=acme.admin.headers).json()["items"][0]["id"]

    body = acme.client.get(f"/emails/{email_id}/body", headers=acme.admin.headers).json()
    assert [(a["id"], a["filename"], a["size"]) for a in body["attachments"]] == [
        ("0", "contrat signé.pdf", len(PDF)),
        ("1", "page.html", len(PAGE)),
    ]
    pdf = acme.client.get(f"/emails/{email_id}/attachments/0", headers=acme.admin.headers)
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''contrat%20sign%C3%A9.pdf" in pdf.headers["content-disposition"]
    assert pdf.headers["x-content-type-options"] == "nosniff"
    page = acme.client.get(f"/emails/{email_id}/attachments/1", headers=acme.admin.headers)
    assert page.content == PAGE and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-disposition"].startswith("attachment;")  # downloaded, never rendered

    # Alice sees Bob's mail at metadata level: no file, no names, no sizes.
    assert_problem(acme.client.get(f"/emails/{email_id}/attachments/0", headers=alice.headers), 404)
    assert_problem(acme.client.get(f"/emails/{email_id}/body", headers=alice.headers), 404)
    assert "contrat" not in acme.client.get(f"/emails/{email_id}", headers=alice.headers).text
    acme.client.patch(f"/mailboxes/{box}", json={"sharing": "subject"}, headers=acme.admin.headers)
    assert_problem(acme.client.get(f"/emails/{email_id}/attachments/0", headers=alice.headers), 404)

    shared = acme.client.post(
        f"/emails/{email_id}/shares", json={"members": [alice.id]}, headers=acme.admin.headers
    )
    assert shared.status_code == 201, shared.text
    assert acme.client.get(f"/emails/{email_id}/attachments/0", headers=alice.headers).content == PDF
    assert_problem(acme.client.get(f"/emails/{email_id}/attachments/2", headers=alice.headers), 404)
    assert_problem(acme.client.get(f"/emails/{email_id}/attachments/x", headers=alice.headers), 404)

    assert acme.client.delete(f"/mailboxes/{box}", headers=acme.admin.headers).status_code == 204
    assert_problem(acme.client.get(f"/emails/{email_id}/attachments/0", headers=acme.admin.headers), 404)
