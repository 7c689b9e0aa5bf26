"""Searching people and companies: a prefix of a name (or a word of it), an address or a
domain, whatever the case; only the caller's workspace."""

from __future__ import annotations

from tests.support.dsl import Workspace, assert_problem, make_workspace


def _names(acme: Workspace, path: str, **params: str) -> list[str]:
    response = acme.client.get(path, params=params, headers=acme.admin.headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


def test_people_and_companies_are_found_by_a_prefix_whatever_the_case(acme: Workspace) -> None:
    for name, address in (("Carol Smith", "carol@customer.com"), ("Dan Brown", "dan@brownco.io"),
                          ("Smitty Jones", "jones@other.org")):  # fmt: skip
        assert acme.client.post("/people", json={"name": name, "emails": [address]},
                                headers=acme.admin.headers).status_code == 201  # fmt: skip

    assert _names(acme, "/people", q="SMI") == ["Carol Smith", "Smitty Jones"]  # a word of the name
    assert _names(acme, "/people", q="carol@") == ["Carol Smith"]  # an address
    assert _names(acme, "/people", q="Brownco") == ["Dan Brown"]  # a domain
    assert _names(acme, "/people", q="mith") == []  # a prefix, not any substring
    assert _names(acme, "/people", q="%") == []  # LIKE's wildcards are plain characters
    domains = {
        c["name"]: c["domain"]
        for c in acme.client.get("/companies", headers=acme.admin.headers).json()["items"]
    }
    assert [domains[n] for n in _names(acme, "/companies", q="CUST")] == ["customer.com"]  # name or domain
    assert [domains[n] for n in _names(acme, "/companies", q="brownco.")] == ["brownco.io"]  # the domain

    first = acme.client.get("/people", params={"q": "smi", "limit": 1}, headers=acme.admin.headers).json()
    assert [p["name"] for p in first["items"]] == ["Carol Smith"]
    rest = acme.client.get("/people", params={"q": "smi", "limit": 1, "cursor": first["next"]},
                           headers=acme.admin.headers).json()  # fmt: skip
    assert [p["name"] for p in rest["items"]] == ["Smitty Jones"] and rest["next"] is None
    assert_problem(acme.client.get("/people", params={"q": "dan", "cursor": first["next"]},
                                   headers=acme.admin.headers), 422)  # another search's cursor  # fmt: skip
    assert_problem(acme.client.get("/people", params={"q": "smi", "sort": "strength"},
                                   headers=acme.admin.headers), 422)  # fmt: skip

    other = make_workspace(acme.client, acme.runtime, "Other", "other-ws.com", ("Eve", "eve@other-ws.com"))
    assert _names(other, "/people", q="smi") == []
