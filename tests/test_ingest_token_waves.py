"""Token checks of concurrent pushes share one look-up per wave, and a revoked token is refused at once."""

from __future__ import annotations

import threading

from ingest import tokens


def test_concurrent_checks_share_lookups_and_see_revocation(warehouse, monkeypatch):
    good, _ = tokens.issue(warehouse, "hall-a", kinds=("case_event",))
    gone, _ = tokens.issue(warehouse, "hall-b", kinds=("case_event",))
    tokens.revoke(warehouse, "hall-b")
    lookups = []
    real = tokens.grants
    monkeypatch.setattr(tokens, "grants", lambda wh, hashes: lookups.append(len(hashes)) or real(wh, hashes))
    verifier = tokens.Verifier(warehouse)
    answers: dict[int, object] = {}
    presented = [good, gone, "hcp_unknown", "not-a-token", None] * 4

    def check(i: int) -> None:
        answers[i] = verifier.verify(presented[i])

    threads = [threading.Thread(target=check, args=(i,)) for i in range(len(presented))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [getattr(answers[i], "name", None) for i in range(len(presented))] == ["hall-a", None, None, None, None] * 4
    assert 1 <= len(lookups) <= 12  # the 12 plausible tokens: at most one look-up each, usually far fewer
    # A revocation after a check is seen by the next one.
    tokens.revoke(warehouse, "hall-a")
    assert verifier.verify(good) is None
