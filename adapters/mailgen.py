"""Deterministic synthetic mailbox generator for benchmarks and ``mailtrail demo``.

Same arguments -> byte-identical output. Messages are built from string templates
(CRLF line endings) rather than ``email.message`` objects, for speed.
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.utils import format_datetime
from pathlib import Path
from typing import Any

FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Susan Richard "
    "Jessica Thomas Sarah Daniel Karen Matthew Nancy Anthony Lisa Mark Betty Steven Sandra Paul "
    "Ashley Andrew Emily Kevin Donna Brian Michelle Priya Ahmed Chen Fatima Lars Ingrid"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Wilson Anderson "
    "Taylor Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker Hall Young "
    "King Wright Scott Green Baker Adams Nelson Hill Campbell Patel Nguyen Kim Olsen Berg"
).split()
INTL = [
    ("José Müller", "jose.muller"),
    ("Łukasz Wójcik", "lukasz.wojcik"),
    ("山田太郎", "t.yamada"),
    ("François Lefèvre", "f.lefevre"),
    ("Zoë Ångström", "zoe.angstrom"),
    ("Søren Kierkegård", "soren.k"),
    ("Ivan Петров", "ivan.petrov"),
    ("María Peña", "maria.pena"),
    ("Jürgen Groß", "j.gross"),
    ("佐藤花子", "h.sato"),
    ("Çağla Öztürk", "cagla.ozturk"),
    ("Björn Sæther", "bjorn.saether"),
]
COMPANIES = (
    "northwind contoso globex initech umbrella fabrikam tailspin wingtip litware woodgrove "
    "proseware lucerne alpine coho trey adatum fourthcoffee wideworld blueyonder margie"
).split()
FREEMAIL = ("gmail.com", "yahoo.com", "outlook.com")
ROLES = ("support", "info", "sales", "billing", "hello")
TOPICS = (
    "quarterly review",
    "invoice {n}",
    "meeting on Thursday",
    "contract renewal",
    "project timeline",
    "budget approval",
    "onboarding plan",
    "feedback on the proposal",
    "order {n} status",
    "travel arrangements",
    "Q{q} forecast",
    "partnership opportunity",
    "support ticket #{n}",
    "updated price list",
    "workshop agenda",
    "release notes {q}.{n}",
    "lunch next week?",
    "shipping delay for PO-{n}",
    "security questionnaire",
    "draft agreement v{q}",
)
INTL_TOPICS = (
    "Café meeting tomorrow",
    "Größenangaben für das Angebot",
    "会議の件について",
    "Réunion de suivi",
    "Zamówienie nr {n}",
    "Résumé and références",
    "Предложение по проекту",
    "Año fiscal {n}",
)
WORDS = (
    "the a we our your this that project team client order invoice report meeting schedule "
    "update review draft budget proposal contract delivery timeline quarter plan please thanks "
    "regarding attached following next week today tomorrow confirm discuss issue question "
    "customer product service support account payment shipment price estimate approval "
    "available would could should will can need send share check let know about with for "
    "on in at by from to of and or but also still already soon details numbers changes"
).split()
STARTERS = ("Hi", "Hello", "Dear", "Good morning", "Hey")
SIGNOFFS = ("Best regards", "Thanks", "Cheers", "Kind regards", "Best")
Person = tuple[str, str, str]  # (display name, address, rendered header value)


def _fmt(name: str, addr: str) -> str:
    if not name:
        return addr
    if name.isascii():
        return f'"{name}" <{addr}>'
    return f"{Header(name, 'utf-8').encode()} <{addr}>"


def _people(rng: random.Random, owner: str, domain: str) -> tuple[list[Person], list[Person], list[str]]:
    companies = [f"{COMPANIES[i % len(COMPANIES)]}-{i}.example" for i in range(60)]
    seen: set[str] = {owner}
    ext: list[Person] = []
    while len(ext) < 300:
        r, dom = rng.random(), rng.choice(companies)
        if r < 0.06:
            name, local = rng.choice(INTL)
        elif r < 0.10:  # role address, e.g. "Globex Support" <support@globex-2.example>
            local = rng.choice(ROLES)
            name = f"{dom.split('-')[0].title()} {local.title()}"
        else:
            f, last = rng.choice(FIRST), rng.choice(LAST)
            name, local = f"{f} {last}", rng.choice((f"{f}.{last}", f"{f[0]}{last}", f)).lower()
        if r < 0.06 or r >= 0.10 and rng.random() < 0.15:
            dom = rng.choice(FREEMAIL) if rng.random() < 0.5 or r >= 0.10 else dom
        addr = f"{local}@{dom}"
        if addr in seen:
            addr = f"{local}{len(seen)}@{dom}"
        seen.add(addr)
        ext.append((name, addr, _fmt(name, addr)))
    colleagues: list[Person] = []
    for i in range(25):
        f, last = FIRST[(i * 7) % len(FIRST)], LAST[(i * 11) % len(LAST)]
        addr = f"{f}.{last}@{domain}".lower()
        if addr != owner:
            colleagues.append((f"{f} {last}", addr, _fmt(f"{f} {last}", addr)))
    return ext, colleagues, companies


def _paragraph_pool(rng: random.Random, size: int = 1500) -> list[list[str]]:
    """Pre-wrapped paragraphs (lines <= 72 chars); bodies are assembled from these for speed."""
    pool: list[list[str]] = []
    for _ in range(size):
        words: list[str] = []
        for _ in range(rng.randint(2, 5)):
            s = rng.choices(WORDS, k=rng.randint(6, 16))
            first = "From" if rng.random() < 0.03 else s[0].capitalize()
            words += [first, *s[1:-1], s[-1] + rng.choice(".....?!")]
        lines, cur = [], ""
        for w in words:
            if cur and len(cur) + len(w) >= 72:
                lines.append(cur)
                cur = w
            else:
                cur = f"{cur} {w}" if cur else w
        lines.append(cur)
        pool.append(lines)
    return pool


def _paragraphs(rng: random.Random, pool: list[list[str]], nchars: int) -> list[list[str]]:
    paras: list[list[str]] = []
    total = 0
    while total < nchars:
        p = pool[rng.randrange(len(pool))]
        paras.append(p)
        total += sum(map(len, p)) + 2 * len(p)
    return paras


def _join(people: list[Person]) -> str:
    return ",\r\n ".join(p[2] for p in people)


SPAN = timedelta(days=730)


def _dates_until(end: datetime, count: int, seed: int) -> list[datetime]:
    """`count` increasing dates over SPAN ending at `end`, with gaps as irregular as the default's."""
    rng = random.Random(f"dates-{seed}")
    gaps = [rng.uniform(0.1, 1.9) for _ in range(count)]
    total, elapsed, dates = sum(gaps) or 1.0, 0.0, []
    for gap in gaps:
        elapsed += gap
        dates.append(end - SPAN * (1 - min(elapsed / total, 1.0)))
    return dates


def generate_messages(
    count: int = 20000,
    *,
    seed: int = 7,
    owner: str = "alice@acme.example",
    internal_domain: str = "acme.example",
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
    end: datetime | None = None,
) -> Iterator[tuple[str, bytes]]:
    """`count` messages over about two years from `start`; with `end`, over the two years up to
    `end` exactly (the last message is dated `end`), never later. Deterministic per seed either way."""
    rng = random.Random(seed)
    dates = _dates_until(end, count, seed) if end is not None else None
    ext, colleagues, companies = _people(rng, owner, internal_domain)
    pool = _paragraph_pool(rng)
    oname = owner.split("@")[0].replace(".", " ").title()
    me: Person = (oname, owner, _fmt(oname, owner))
    everyone = colleagues + ext
    threads: list[dict[str, Any]] = []
    step = SPAN / max(count, 1)
    when = start
    for n in range(count):
        when += step * rng.uniform(0.1, 1.9)  # drawn either way: the rest of the stream stays the same
        if dates is not None:
            when = dates[n]
        msgid = f"<{n}.{seed}@gen.mailtrail.example>"
        bulk = rng.random() < 0.05
        sent = not bulk and rng.random() < 0.316
        extra: list[str] = []
        if bulk:
            comp = rng.choice(companies)
            name = f"{comp.split('-')[0].title()} {rng.choice(('News', 'Updates', 'Team'))}"
            addr = f"{rng.choice(('noreply', 'newsletter'))}@{comp}"
            sender = (name, addr, _fmt(name, addr))
            subject, thread = f"{name}: {rng.choice(TOPICS)}".format(n=n, q=rng.randint(1, 4)), None
            extra = [
                (
                    f"List-Unsubscribe: <mailto:unsubscribe@{comp}?subject=unsub-{n}>, "
                    f"<https://{comp}/unsubscribe?u={n}>"
                ),
                "Precedence: bulk",
                f"List-Id: <news.{comp}>",
            ]
        elif threads and rng.random() < 0.43:
            thread = threads[-1 - min(int(rng.expovariate(1 / 12)), len(threads) - 1)]
            subject = "Re: " + thread["subject"]
        else:
            intl = rng.random() < 0.07
            subject = rng.choice(INTL_TOPICS if intl else TOPICS).format(
                n=rng.randint(100, 9999), q=rng.randint(1, 4)
            )
            subject = subject[0].upper() + subject[1:]
            thread = {"subject": subject, "ids": [], "person": rng.choice(ext)}
            threads.append(thread)
        peer = thread["person"] if thread else sender
        if sent:
            frm, to = me, [peer] + [p for p in rng.sample(ext, rng.choice((0, 0, 0, 1))) if p != peer]
            cc = [p for p in rng.sample(everyone, rng.choice((0, 0, 1, 2))) if p not in to]
        else:
            frm, to = peer, [me] + ([rng.choice(colleagues)] if rng.random() < 0.1 else [])
            cc = (
                []
                if bulk
                else [
                    p
                    for p in rng.sample(everyone, rng.choice((0, 0, 0, 1, 1, 2, 3, 4)))
                    if p != peer and p not in to
                ]
            )
        hdr = [f"Return-Path: <{frm[1]}>", f"From: {frm[2]}", f"To: {_join(to)}"]
        if cc:
            hdr.append(f"Cc: {_join(cc)}")
        re_, base = ("Re: ", subject[4:]) if subject.startswith("Re: ") else ("", subject)
        subj = re_ + (base if base.isascii() else Header(base, "utf-8").encode(linesep="\r\n"))
        hdr += [f"Subject: {subj}", f"Date: {format_datetime(when)}", f"Message-ID: {msgid}"]
        if thread is not None:
            if thread["ids"]:
                refs = thread["ids"][:1] + thread["ids"][-9:] if len(thread["ids"]) > 10 else thread["ids"]
                hdr += [f"In-Reply-To: {thread['ids'][-1]}", "References: " + "\r\n ".join(refs)]
            thread["ids"].append(msgid)
        hdr += extra + ["MIME-Version: 1.0"]
        if rng.random() < 0.3:
            hdr.append(
                f"X-Mailer: {rng.choice(('Thunderbird 115.3', 'Apple Mail (2.3731)', 'Outlook 16.0'))}"
            )
        greet = f"{rng.choice(STARTERS)} {to[0][0].split()[0] if to[0][0] else 'there'},"
        paras = [[greet]] + _paragraphs(rng, pool, rng.randint(300, 2800))
        paras.append([f"{rng.choice(SIGNOFFS)},", frm[0] or frm[1]])
        if thread is not None and len(thread["ids"]) > 1:
            paras.append(
                [
                    (
                        f"On {format_datetime(when - timedelta(hours=rng.randint(1, 72)))}, "
                        f"{peer[0] if sent else oname} wrote:"
                    )
                ]
                + [f"> {x}" for x in paras[1][:4]]
            )
        text = "\r\n\r\n".join("\r\n".join(p) for p in paras) + "\r\n"
        plain = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + text
        body = plain
        if bulk or rng.random() < 0.06:
            html = (
                "<html><body>\r\n"
                + "\r\n".join("<p>" + "<br>\r\n".join(p) + "</p>" for p in paras)
                + "\r\n</body></html>\r\n"
            )
            b = f"=_alt_{n}_{seed}"
            body = (
                f'Content-Type: multipart/alternative; boundary="{b}"\r\n\r\n--{b}\r\n{plain}\r\n--{b}\r\n'
                "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
                f"{html}\r\n--{b}--\r\n"
            )
        if not bulk and rng.random() < 0.1:
            kind = rng.random() < 0.6
            ctype, fname = (
                ("application/pdf", f"document-{n}.pdf") if kind else ("image/png", f"image-{n}.png")
            )
            data = (
                base64.encodebytes(rng.randbytes(rng.randint(2048, 30720))).replace(b"\n", b"\r\n").decode()
            )
            b = f"=_mix_{n}_{seed}"
            body = (
                f'Content-Type: multipart/mixed; boundary="{b}"\r\n\r\nThis is a multi-part message in '
                f'MIME format.\r\n\r\n--{b}\r\n{body}\r\n--{b}\r\nContent-Type: {ctype}; name="{fname}"\r\n'
                f'Content-Disposition: attachment; filename="{fname}"\r\n'
                f"Content-Transfer-Encoding: base64\r\n\r\n{data}\r\n--{b}--\r\n"
            )
        yield ("Sent" if sent else "INBOX"), ("\r\n".join(hdr) + "\r\n" + body).encode("utf-8")


def write_maildir(path: Path, count: int = 20000, seed: int = 7, **kw: Any) -> int:
    """Write a Maildir++ tree (INBOX in path/cur, Sent in path/.Sent/cur); return messages written."""
    path = Path(path)
    for d in (path, path / ".Sent"):
        for sub in ("tmp", "new", "cur"):
            (d / sub).mkdir(parents=True, exist_ok=True)
    (path / ".Sent" / "maildirfolder").touch()
    n = 0
    for n, (folder, raw) in enumerate(generate_messages(count, seed=seed, **kw), 1):
        target = path / "cur" if folder == "INBOX" else path / ".Sent" / "cur"
        (target / f"{n - 1:07d}.mailtrail:2,S").write_bytes(raw)
    return n


_FROM_LINE = re.compile(rb"^From ", re.MULTILINE)


def write_mbox(path: Path, count: int = 20000, seed: int = 7, **kw: Any) -> int:
    """Write all messages (both folders) to one mbox file with LF line endings; return count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("wb") as fh:
        for n, (_folder, raw) in enumerate(generate_messages(count, seed=seed, **kw), 1):
            fh.write(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2025\n")
            fh.write(_FROM_LINE.sub(b">From ", raw.replace(b"\r\n", b"\n")))
            fh.write(b"\n")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate a deterministic synthetic mailbox.")
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--format", choices=("maildir", "mbox"), default="maildir")
    args = ap.parse_args(argv)
    if args.format == "maildir":
        written = write_maildir(args.out_dir, args.count, args.seed)
    else:
        written = write_mbox(args.out_dir / "mailtrail.mbox", args.count, args.seed)
    size = sum(p.stat().st_size for p in args.out_dir.rglob("*") if p.is_file())
    print(f"wrote {written} messages, {size} bytes ({size / 1e6:.1f} MB) to {args.out_dir} ({args.format})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
