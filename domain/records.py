"""Which participants of a stored message become person records."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from domain.filtering import InternalSet, matches_any
from domain.message import ParsedMessage
from domain.participants import SENT, participants, recipients
from domain.values import RecordPolicy

RULE_SENT_TO = "selective:member_sent_to"
RULE_ALL = "all:external_participant"

# Reasons counted among a mailbox's `skipped` for stored messages that created no records.
TOO_MANY_PARTICIPANTS = "records_not_created:too_many_participants"
BATCH_RECORD_LIMIT = "records_not_created:batch_limit"


@dataclass(frozen=True)
class FanOutLimits:
    """Bounds on what one message and one batch may create (a mass mailing is not a CRM's leads).

    A message with more than `max_participants` distinct participants is stored but creates
    no records; a batch creates at most `max_records_per_batch` people, the rest are not
    created (a later message can still create them; nothing retries)."""

    max_participants: int = 1000
    max_records_per_batch: int = 10000

    def too_many_participants(self, count: int) -> bool:
        return count > self.max_participants


ROLE_LOCAL_PARTS = frozenset(
    """noreply no-reply no_reply donotreply do-not-reply do_not_reply notifications
    notification notify alerts alert support help helpdesk info admin administrator
    postmaster mailer-daemon mailerdaemon bounce bounces billing invoices newsletter
    news marketing hello team contact sales service feedback webmaster abuse
    security privacy jobs careers press office reply updates digest""".split()
)
_ROLE_PATTERN = re.compile(r"^(no-?reply|do-?not-?reply|bounces?)([+._-].*)?$")


def is_role_address(address: str) -> bool:
    local = address.partition("@")[0]
    base = local.split("+", 1)[0]
    return base in ROLE_LOCAL_PARTS or bool(_ROLE_PATTERN.match(local))


def people_to_create(
    message: ParsedMessage,
    direction: str,
    policy: RecordPolicy,
    internal: InternalSet,
    exclusions: Collection[str] = (),
) -> list[tuple[str, str]]:
    """(address, rule) for each participant that this message makes a person of."""
    if policy is RecordPolicy.NONE or message.bulk:
        return []
    if policy is RecordPolicy.SELECTIVE:
        if direction != SENT:
            return []
        candidates, rule = recipients(message), RULE_SENT_TO
    else:
        candidates, rule = participants(message), RULE_ALL
    return [
        (address, rule)
        for address in candidates
        if not internal.is_internal(address)
        and not is_role_address(address)
        and not matches_any(address, exclusions)
    ]
