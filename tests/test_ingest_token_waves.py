"""Token checks of concurrent pushes share one look-up per wave, and a revoked token is refused at once."""

from __future__ import annotations

import threading
import time

from ingest import tokens


def test_concurrent_checks_share_lookups_and_see_revocation(warehouse, monkeypatch):
    good, _ = tokens.issue(warehouse, "hall-a", kinds=("case_event",))
    gone, _ = tokens.issue(warehouse, "hall-b", kinds=("case_event",))
    tokens.revoke(warehouse, "hall-b")
    presented = [good, gone, "hcp_unknown", "not-a-token", None] * 4
    plausible_requests = sum(tokens.plausible(t) for t in presented)  # 12: the others are refused unread
    # The first look-up is held until every plausible request has arrived, so the rest must share the next
    # one: one look-up per request (the feature broken) would make 12.
    arrived, everyone_arrived = [], threading.Event()
    real_digest = tokens.digest

    def counting_digest(token):
        arrived.append(token)
        if len(arrived) == plausible_requests:
            everyone_arrived.set()
        return real_digest(token)

    lookups = []
    real = tokens.grants

    def held_grants(wh, hashes):
        if not lookups:
            everyone_arrived.wait(30)
            time.sleep(0.3)  # from digest() into the wave: a few instructions
        lookups.append(len(hashes))
        return real(wh, hashes)

    monkeypatch.setattr(tokens, "digest", counting_digest)
    monkeypatch.setattr(tokens, "grants", held_grants)
    verifier = tokens.Verifier(warehouse)
    answers: dict[int, object] = {}

    def check(i: int) -> None:
        answers[i] = verifier.verify(presented[i])

    threads = [threading.Thread(target=check, args=(i,)) for i in range(len(presented))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [getattr(answers[i], "name", None) for i in range(len(presented))] == ["hall-a", None, None, None, None] * 4
    assert plausible_requests == 12 and everyone_arrived.is_set()
    assert len(lookups) <= 3  # the held first wave, then (nearly) everyone else in one
    # A revocation after a check is seen by the next one.
    tokens.revoke(warehouse, "hall-a")
    assert verifier.verify(good) is None


def test_only_a_token_found_valid_lately_is_admitted_without_a_look_up(warehouse):
    """Verifier.admitted: the grant of a token its last look-up found valid, for ``admitted_seconds``; never
    for a token not looked up, found unknown or revoked, or looked up too long ago."""
    good, _ = tokens.issue(warehouse, "hall-a", kinds=("case_event",), region_code="370200000000")
    grant = tokens.verify(warehouse, good)
    assert (grant.name, grant.kinds, grant.region_code) == ("hall-a", ("case_event",), "370200000000")
    other, _ = tokens.issue(warehouse, "hall-b", kinds=("case_event",))
    verifier = tokens.Verifier(warehouse)
    assert verifier.admitted(good) is None  # never looked up
    assert verifier.verify(good) == grant
    assert verifier.admitted(good) == grant
    assert verifier.admitted(other) is None
    assert verifier.verify("hcp_unknown") is None and verifier.admitted("hcp_unknown") is None
    assert verifier.admitted(None) is None and verifier.admitted("not-a-token") is None
    # Revoked: admitted until the next look-up, which finds it gone and forgets it.
    tokens.revoke(warehouse, "hall-a")
    assert verifier.admitted(good) == grant
    assert verifier.verify(good) is None
    assert verifier.admitted(good) is None
    # Looked up longer ago than admitted_seconds: looked up again.
    stale = tokens.Verifier(warehouse, admitted_seconds=0.05)
    assert stale.verify(other) is not None and stale.admitted(other) is not None
    time.sleep(0.1)
    assert stale.admitted(other) is None
