"""Property: over random histories, every viewer is served exactly what the rules allow.

A history is a list of operations done through the HTTP API: members post messages
into their own upload mailboxes (a small fixed pool, so several members hold copies
of one email), owners change their blocklists and sharing, share and revoke, admins
change internal domains and exclusions, a member joins. After the history, for every
viewer (each member and an auditor) and every email, the API's answer is compared with
`Model`, an independent re-statement of the rules in DESIGN.md written from the
history alone:

- a copy is stored iff, when it was posted, it was not internal-only, not excluded
  and not blocklisted by its mailbox's list at that moment;
- it is visible iff it is none of those now;
- a viewer's level from a visible copy: owner -> full; a live share of that copy (or a
  thread share of its mailbox's copy in the same thread) with the workspace or naming
  the viewer -> full; else the mailbox's sharing; an auditor gets metadata from every
  visible copy; the email's level is the highest; none -> 404.

After every rule change two viewers' GET /emails (in turn) are checked too, so a
change must apply at once. SQLite only; a fresh workspace per example on one runtime."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from api.runtime import Runtime
from tests.support.dsl import Member, Workspace, make_workspace
from tests.support.messages import message


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """This module runs on SQLite only (overrides the sqlite/postgres parametrisation)."""
    yield f"sqlite:///{tmp_path / 'property.db'}"


# the world ------------------------------------------------------------------------------------

# members with a mailbox (their only address), members without one, the auditor
POSTERS = ("bob", "alice", "karen")
ADDRESSES = {
    "bob": "bob@acme.com",
    "alice": "alice@acme.com",
    "karen": "karen@gmail.com",
    "carol": "carol@acme.com",
    "audrey": "audrey@acme.com",
    "dan": "dan@initech.com",
}
ROLES = {
    "bob": "admin",
    "alice": "member",
    "karen": "member",
    "carol": "member",
    "audrey": "auditor",
    "dan": "member",
}
NAMED = ("bob", "alice", "karen", "carol", "audrey", "dan")  # whom a share may name


@dataclass(frozen=True)
class PoolMessage:
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    parent: int | None = None  # index of the message this one replies to

    @property
    def participants(self) -> set[str]:
        return {self.sender, *self.to, *self.cc}


POOL = (
    # thread A
    PoolMessage("bob@acme.com", ("sue@gmail.com",)),
    PoolMessage("sue@gmail.com", ("bob@acme.com", "alice@acme.com"), parent=0),
    PoolMessage("bob@acme.com", ("sue@gmail.com",), ("pat@initech.com",), parent=1),
    # thread B
    PoolMessage("pat@initech.com", ("alice@acme.com",), ("karen@gmail.com",)),
    PoolMessage("alice@acme.com", ("dan@initech.com",), parent=3),  # internal once Dan is a member
    # thread C
    PoolMessage("karen@gmail.com", ("joe@globex.io",)),
    PoolMessage("joe@globex.io", ("karen@gmail.com",), ("bob@acme.com",), parent=5),
    PoolMessage("ceo@sub.initech.com", ("bob@acme.com", "karen@gmail.com"), parent=6),
    # on their own
    PoolMessage("bob@acme.com", ("sue@acme.com",)),  # internal while acme.com is internal
    PoolMessage("audrey@acme.com", ("joe@globex.io", "alice@acme.com")),
)


def message_id(index: int) -> str:
    return f"<m{index}@pool.test>"


def thread_root(index: int) -> int:
    while POOL[index].parent is not None:
        index = POOL[index].parent  # type: ignore[assignment]
    return index


def raw_message(index: int) -> bytes:
    m = POOL[index]
    headers = {}
    if m.parent is not None:
        chain = []
        at: int | None = m.parent
        while at is not None:
            chain.insert(0, message_id(at))
            at = POOL[at].parent
        headers = {"In-Reply-To": message_id(m.parent), "References": " ".join(chain)}
    return message(
        m.sender,
        list(m.to),
        f"Subject-{index}",
        cc=list(m.cc) or None,
        message_id=message_id(index),
        body=f"Body-{index}",
        headers=headers,
    )


BLOCK_ENTRIES = (
    "sue@gmail.com",
    "initech.com",
    "pat@initech.com",
    "gmail.com",
    "globex.io",
    "karen@gmail.com",
)
INTERNAL_DOMAINS = ("acme.com", "initech.com", "globex.io", "gmail.com")
EXCLUSIONS = ("sue@gmail.com", "initech.com", "sub.initech.com", "joe@globex.io")
LEVELS = ("metadata", "subject", "full")
RANK = {"none": 0, "metadata": 1, "subject": 2, "full": 3}


# operations ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    member: str
    index: int


@dataclass(frozen=True)
class Block:
    """Adds the entry to the member's blocklist, or removes it when it is there."""

    member: str
    entry: str


@dataclass(frozen=True)
class BlockHeld:
    """Blocks (or unblocks) an entry that matches one of the member's own copies, when there is one."""

    member: str
    pick: int


@dataclass(frozen=True)
class Unblock:
    """Removes one of the entries on some blocklist (picked among those present)."""

    pick: int


@dataclass(frozen=True)
class Sharing:
    member: str
    level: str


@dataclass(frozen=True)
class Share:
    """Shares a message: mostly one the member holds a copy of (pick < 8), else any (pick: its index)."""

    member: str
    pick: int
    named: tuple[str, ...]
    workspace: bool
    thread: bool


@dataclass(frozen=True)
class Revoke:
    """Revokes one of the live shares: as the member who made it, or as `member` (picked among all)."""

    member: str
    pick: int
    as_sharer: bool


@dataclass(frozen=True)
class PostThread:
    """The member's mailbox receives a whole thread of the pool, oldest first."""

    member: str
    root: int


@dataclass(frozen=True)
class Internal:
    """Adds the internal domain, or removes it when it is there."""

    domain: str


@dataclass(frozen=True)
class Exclusion:
    """Adds the exclusion, or removes it when it is there."""

    entry: str


@dataclass(frozen=True)
class AddDan:
    pass


posters = st.sampled_from(POSTERS)
indexes = st.integers(0, len(POOL) - 1)
# mostly named members, the auditor more often than the others: the auditor rule needs such shares
workspace_wide = st.sampled_from((False, False, True))
named_members = st.lists(st.sampled_from(NAMED + ("audrey",)), min_size=1, max_size=3, unique=True).map(tuple)
shares = st.builds(Share, posters, st.integers(0, 10), named_members, workspace_wide, st.booleans())
posts = st.one_of(
    st.builds(Post, posters, indexes),
    st.builds(PostThread, posters, st.sampled_from(sorted({thread_root(i) for i in range(len(POOL))}))),
)
operations = st.one_of(
    posts,
    posts,
    st.builds(Block, posters, st.sampled_from(BLOCK_ENTRIES)),
    st.builds(BlockHeld, posters, st.integers(0, 10)),
    st.builds(BlockHeld, posters, st.integers(0, 10)),
    st.builds(Unblock, st.integers(0, 10)),
    st.builds(Sharing, posters, st.sampled_from(LEVELS)),
    shares,
    shares,
    st.builds(
        Share,
        posters,
        st.integers(0, 10),
        st.lists(st.sampled_from(NAMED), max_size=2).map(tuple),
        st.booleans(),
        st.booleans(),
    ),  # may name nobody: 422 unless workspace-wide
    st.builds(Revoke, st.sampled_from(POSTERS + ("carol",)), st.integers(0, 10), st.booleans()),
    st.builds(Internal, st.sampled_from(INTERNAL_DOMAINS)),
    st.builds(Exclusion, st.sampled_from(EXCLUSIONS)),
    st.just(AddDan()),
)
# a few posts first so that the rules have copies to act on, then anything
histories = st.tuples(
    st.lists(posts, min_size=2, max_size=6),
    st.lists(operations, min_size=8, max_size=24),
).map(lambda parts: parts[0] + parts[1])


# the reference model: the rules re-stated from the history alone ---------------------------------


def matches(address: str, entry: str) -> bool:
    if "@" in entry:
        return address == entry
    domain = address.rpartition("@")[2]
    return domain == entry or domain.endswith("." + entry)


@dataclass
class Grant:
    id: str
    owner: str
    index: int
    named: frozenset[str]
    everyone: bool
    thread: bool
    live: bool = True


@dataclass
class Model:
    members: set[str] = field(default_factory=lambda: {"bob", "alice", "karen", "carol", "audrey"})
    internal_domains: set[str] = field(default_factory=lambda: {"acme.com"})
    exclusions: set[str] = field(default_factory=set)
    blocklists: dict[str, set[str]] = field(default_factory=lambda: {m: set() for m in POSTERS})
    sharing: dict[str, str] = field(default_factory=lambda: {m: "metadata" for m in POSTERS})
    stored: set[tuple[str, int]] = field(default_factory=set)  # (owner, message index)
    grants: list[Grant] = field(default_factory=list)

    def internal(self, address: str) -> bool:
        own = {ADDRESSES[m] for m in self.members}  # member and mailbox addresses are the same here
        return address in own or address.rpartition("@")[2] in self.internal_domains

    def reasons(self, owner: str, index: int) -> set[str]:
        """Why this mailbox's copy of the message is not stored / not shown now (empty: it is)."""
        people = POOL[index].participants
        found = set()
        if any(matches(a, e) for a in people for e in self.exclusions):
            found.add("excluded")
        if any(matches(a, e) for a in people for e in self.blocklists[owner]):
            found.add("blocklisted")
        if all(self.internal(a) for a in people):
            found.add("internal_only")
        return found

    def copy_level(self, viewer: str, owner: str, index: int) -> str:
        if self.reasons(owner, index):
            return "none"
        if ROLES[viewer] == "auditor":
            return "metadata"
        if viewer == owner:
            return "full"
        applying = [
            g
            for g in self.grants
            if g.live
            and g.owner == owner
            and (g.index == index or (g.thread and thread_root(g.index) == thread_root(index)))
        ]
        if any(g.everyone for g in applying):
            return "full"
        if any(viewer in g.named for g in applying):
            return "full"
        return self.sharing[owner]

    def level(self, viewer: str, index: int) -> str:
        levels = [self.copy_level(viewer, owner, i) for owner, i in self.stored if i == index]
        return max(levels, key=RANK.__getitem__, default="none")

    def visible_copies(self, index: int) -> int:
        return sum(1 for owner, i in self.stored if i == index and not self.reasons(owner, i))


# driving the API -------------------------------------------------------------------------------

_workspaces = itertools.count(1)


@dataclass
class World:
    ws: Workspace
    people: dict[str, Member]
    mailboxes: dict[str, str]
    model: Model = field(default_factory=Model)
    email_ids: dict[int, str] = field(default_factory=dict)

    @property
    def client(self) -> TestClient:
        return self.ws.client

    def settings(self, **changes: Any) -> None:
        response = self.client.patch("/settings", json=changes, headers=self.people["bob"].headers)
        assert response.status_code == 200, response.text


def new_world(client: TestClient, runtime: Runtime) -> World:
    n = next(_workspaces)
    ws = make_workspace(client, runtime, name=f"Acme {n}")
    people = {"bob": ws.admin}
    for name in ("alice", "karen", "carol", "audrey"):
        people[name] = ws.add_member(name.title(), ADDRESSES[name], role=ROLES[name])
    mailboxes = {name: ws.connect_upload(people[name], ADDRESSES[name]) for name in POSTERS}
    world = World(ws, people, mailboxes)
    shown = client.get("/settings", headers=ws.admin.headers).json()
    assert set(shown["internal_domains"]) == world.model.internal_domains
    return world


def apply(world: World, op: Any) -> None:
    model, client = world.model, world.client
    if isinstance(op, Post):
        member, mailbox = world.people[op.member], world.mailboxes[op.member]
        response = world.ws.post_message(member, mailbox, raw_message(op.index))
        assert response.status_code == 201, response.text
        body = response.json()
        reasons = model.reasons(op.member, op.index)
        if reasons:
            assert body["status"] == "skipped" and body["reason"] in reasons, (body, reasons)
        elif (op.member, op.index) in model.stored:
            assert body == {"status": "skipped", "reason": "duplicate"}, body
        else:
            assert body["status"] == "stored", body
            assert world.email_ids.setdefault(op.index, body["email_id"]) == body["email_id"]  # copies merge
            model.stored.add((op.member, op.index))
    elif isinstance(op, Block) and op.entry in model.blocklists[op.member]:
        response = client.request(
            "DELETE",
            f"/mailboxes/{world.mailboxes[op.member]}/blocklist",
            json={"entry": op.entry},
            headers=world.people[op.member].headers,
        )
        assert response.status_code == 200, response.text
        model.blocklists[op.member].discard(op.entry)
        assert set(response.json()["blocklist"]) == model.blocklists[op.member]
    elif isinstance(op, Block):
        response = client.post(
            f"/mailboxes/{world.mailboxes[op.member]}/blocklist",
            json={"entry": op.entry},
            headers=world.people[op.member].headers,
        )
        if matches(ADDRESSES[op.member], op.entry):
            assert response.status_code == 422, response.text  # a mailbox's own address cannot be blocked
        else:
            assert response.status_code == 200, response.text
            model.blocklists[op.member].add(op.entry)
            assert set(response.json()["blocklist"]) == model.blocklists[op.member]
    elif isinstance(op, PostThread):
        for index in range(len(POOL)):
            if thread_root(index) == op.root:
                apply(world, Post(op.member, index))
    elif isinstance(op, BlockHeld):
        held = {a for owner, i in model.stored if owner == op.member for a in POOL[i].participants}
        entries = [e for e in BLOCK_ENTRIES if any(matches(a, e) for a in held)]
        if entries:
            apply(world, Block(op.member, entries[op.pick % len(entries)]))
    elif isinstance(op, Unblock):
        present = sorted((m, e) for m, entries in model.blocklists.items() for e in entries)
        if present:
            apply(world, Block(*present[op.pick % len(present)]))
    elif isinstance(op, Sharing):
        response = client.patch(
            f"/mailboxes/{world.mailboxes[op.member]}",
            json={"sharing": op.level},
            headers=world.people[op.member].headers,
        )
        assert response.status_code == 200, response.text
        model.sharing[op.member] = op.level
    elif isinstance(op, Share):
        apply_share(world, op)
    elif isinstance(op, Revoke):
        apply_revoke(world, op)
    elif isinstance(op, Internal):
        domains = model.internal_domains ^ {op.domain}
        world.settings(internal_domains=sorted(domains))
        model.internal_domains = set(domains)
    elif isinstance(op, Exclusion):
        entries = model.exclusions ^ {op.entry}
        world.settings(exclusions=sorted(entries))
        model.exclusions = set(entries)
    elif isinstance(op, AddDan):
        dan = {"name": "Dan", "emails": [ADDRESSES["dan"]], "role": "member"}
        response = client.post("/members", json=dan, headers=world.people["bob"].headers)
        if "dan" in model.members:
            assert response.status_code == 409, response.text
        else:
            assert response.status_code == 201, response.text
            world.people["dan"] = Member(response.json()["id"], response.json()["token"])
            model.members.add("dan")
    else:  # pragma: no cover
        raise AssertionError(op)


def apply_share(world: World, op: Share) -> None:
    model = world.model
    own = sorted(i for owner, i in model.stored if owner == op.member)
    index = own[op.pick % len(own)] if own and op.pick < 8 else op.pick % len(POOL)
    named = tuple(n for n in op.named if n in model.members)
    body = {"members": [world.people[n].id for n in named], "workspace": op.workspace, "thread": op.thread}
    email_id = world.email_ids.get(index)
    if email_id is None:
        return  # never stored by anyone: nothing to share
    headers = world.people[op.member].headers
    response = world.client.post(f"/emails/{email_id}/shares", json=body, headers=headers)
    if model.level(op.member, index) == "none":
        expected = 404
    elif (op.member, index) not in model.stored or model.reasons(op.member, index):
        expected = 403  # no visible copy of their own
    elif not named and not op.workspace:
        expected = 422
    else:
        expected = 201
    assert response.status_code == expected, (op, response.text)
    event(f"share answered {expected}")
    if expected == 201:
        shown = response.json()
        assert sorted(shown["members"]) == sorted(set(body["members"]))  # a member named twice counts once
        assert shown["workspace"] is op.workspace and shown["thread"] is op.thread
        model.grants.append(Grant(shown["id"], op.member, index, frozenset(named), op.workspace, op.thread))


def apply_revoke(world: World, op: Revoke) -> None:
    model = world.model
    live = [g for g in model.grants if g.live]
    if not live:
        return
    grant = live[op.pick % len(live)]
    member = grant.owner if op.as_sharer else op.member
    email_id = world.email_ids[grant.index]
    headers = world.people[member].headers
    response = world.client.delete(f"/emails/{email_id}/shares/{grant.id}", headers=headers)
    admin = ROLES[member] == "admin"
    sees_grant = member == grant.owner or grant.everyone or member in grant.named or admin
    if model.level(member, grant.index) == "none" or not sees_grant:
        expected = 404
    elif member != grant.owner and not admin:
        expected = 403
    else:
        expected = 204
    assert response.status_code == expected, (op, member, grant, response.text)
    event(f"revoke answered {expected}")
    if expected == 204:
        grant.live = False


def check_lists(world: World, step: int) -> None:
    """Cheap, after a step: GET /emails of two viewers (in turn), with the level and subject of each item."""
    model = world.model
    viewers = sorted(model.members)
    for viewer in {viewers[step % len(viewers)], viewers[(step + 1) % len(viewers)]}:
        response = world.client.get("/emails", params={"limit": 100}, headers=world.people[viewer].headers)
        assert response.status_code == 200, response.text
        served = {e["id"]: (e["level"], e.get("subject")) for e in response.json()["items"]}
        expected = {}
        for index, email_id in world.email_ids.items():
            level = model.level(viewer, index)
            if level != "none":
                expected[email_id] = (level, f"Subject-{index}" if RANK[level] >= RANK["subject"] else None)
        assert served == expected, viewer


def note_coverage(model: Model) -> None:
    """What the history reached (see pytest --hypothesis-show-statistics)."""
    hidden = {(o, i) for o, i in model.stored if model.reasons(o, i)}
    live = [g for g in model.grants if g.live]
    merged = any(sum(1 for _, i in model.stored if i == j) > 1 for j in range(len(POOL)))
    thread_reach = any(
        g.thread and (g.owner, i) in model.stored and i != g.index and thread_root(i) == thread_root(g.index)
        for g in live
        for i in range(len(POOL))
    )
    event(f"copies stored: {min(len(model.stored), 8)}{'+' if len(model.stored) >= 8 else ''}")
    event(f"hidden copies now: {bool(hidden)}")
    event(f"email with copies in two mailboxes: {merged}")
    event(f"live grant on a hidden copy: {any((g.owner, g.index) in hidden for g in live)}")
    event(f"thread grant reaching another copy: {thread_reach}")
    event(f"revoked grant: {any(not g.live for g in model.grants)}")


def check_threads(world: World, viewer: str) -> None:
    """The viewer's threads: one per thread root with a visible email, holding exactly those
    emails; its subject only when the viewer's level on its first email includes subjects."""
    model, headers = world.model, world.people[viewer].headers
    by_id = {email_id: index for index, email_id in world.email_ids.items()}
    expected: dict[int, set[str]] = {}
    for index, email_id in world.email_ids.items():
        if model.level(viewer, index) != "none":
            expected.setdefault(thread_root(index), set()).add(email_id)
    threads = world.client.get("/threads", params={"limit": 200}, headers=headers).json()["items"]
    served: dict[int, set[str]] = {}
    for thread in threads:
        detail = world.client.get(f"/threads/{thread['id']}", headers=headers).json()
        emails = detail["emails"]
        assert emails and thread["email_count"] == len(emails), (viewer, thread)
        assert all(e["thread_id"] == thread["id"] for e in emails)
        served[thread_root(by_id[emails[0]["id"]])] = {e["id"] for e in emails}
        first_level = model.level(viewer, by_id[emails[0]["id"]])
        assert ("subject" in thread) == (RANK[first_level] >= RANK["subject"]), (viewer, thread)
        if "subject" in thread:
            assert thread["subject"] == emails[0]["subject"]
    assert served == expected, viewer


def check(world: World) -> None:
    """Every viewer, every email: what the API serves equals what the model allows."""
    model = world.model
    note_coverage(model)
    for viewer in sorted(model.members):
        headers = world.people[viewer].headers
        listed = world.client.get("/emails", params={"limit": 100}, headers=headers).json()["items"]
        expected_ids = {world.email_ids[i] for i in world.email_ids if model.level(viewer, i) != "none"}
        assert {e["id"] for e in listed} == expected_ids, viewer
        check_threads(world, viewer)
        for index, email_id in world.email_ids.items():
            level = model.level(viewer, index)
            holders = sorted(o for o, i in model.stored if i == index)
            where = f"viewer={viewer} message={index} copies={holders}"
            shown = world.client.get(f"/emails/{email_id}", headers=headers)
            body = world.client.get(f"/emails/{email_id}/body", headers=headers)
            if level == "none":
                assert shown.status_code == 404, (where, shown.text)
                assert body.status_code == 404, (where, body.text)
                continue
            assert shown.status_code == 200, (where, shown.text)
            item = shown.json()
            assert item["level"] == level, where
            assert ("subject" in item) == (RANK[level] >= RANK["subject"]), where
            if "subject" in item:
                assert item["subject"] == f"Subject-{index}", where
            assert item["copies"] == model.visible_copies(index), where
            assert {p["address"] for p in item["participants"]} == POOL[index].participants, where
            if level == "full":
                assert body.status_code == 200, (where, body.text)
                assert body.json()["text"].strip() == f"Body-{index}", where
            else:
                assert body.status_code == 404, (where, body.text)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(history=histories)
def test_every_viewer_sees_exactly_what_the_rules_allow(
    client: TestClient, runtime: Runtime, history: list[Any]
) -> None:
    world = new_world(client, runtime)
    for step, op in enumerate(history):
        apply(world, op)
        if not isinstance(op, (Post, PostThread)):  # a rule changed: applied at once? (posts: at the end)
            check_lists(world, step)
    check(world)


def test_the_model_agrees_with_the_documented_acme_example() -> None:
    """The reference itself, on the example in DESIGN.md (so a wrong model cannot pass silently)."""
    model = Model()
    assert model.reasons("bob", 8) == {"internal_only"}  # bob@acme.com -> sue@acme.com
    assert model.reasons("bob", 0) == set()  # bob@acme.com -> sue@gmail.com
    assert model.reasons("bob", 9) == set()
    assert thread_root(2) == thread_root(1) == 0 and thread_root(7) == 5 and thread_root(9) == 9
    model.blocklists["bob"].add("initech.com")
    assert model.reasons("bob", 7) == {"blocklisted"}  # a domain covers its subdomains
    assert model.reasons("karen", 7) == set()  # other members' copies are unaffected
    model.stored |= {("bob", 7), ("karen", 7), ("karen", 5)}
    assert model.level("bob", 7) == "metadata" and model.level("karen", 7) == "full"
    model.grants.append(Grant("g", "karen", 5, frozenset({"audrey", "carol"}), False, True))
    assert model.level("carol", 7) == "full" and model.level("audrey", 7) == "metadata"  # thread share
    model.exclusions.add("joe@globex.io")
    assert model.level("carol", 5) == "none"
