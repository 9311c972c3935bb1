"""The demo province: a month of believable government-service data in the interchange format.

``hcp demo generate`` writes Shandong's regions, departments and item catalogue, then the cases'
lifecycle events, the ratings and the bad-rating follow-ups of one month (plus the weeks before it),
with a controlled share of malformed, re-sent, late and unknown-item records for the ingest to
handle. See :mod:`hcp.demo.generator` for the files and :mod:`hcp.demo.cases`,
:mod:`hcp.demo.ratings` and :mod:`hcp.demo.followups` for the rules the simulation keeps, and
:mod:`hcp.demo.manipulation` for the labelled rating-manipulation episodes it injects.
"""

#: Bumped whenever the same parameters would produce different output.
GENERATOR_VERSION = "1.2.0"  # 1.2.0: device_id on hall-device ratings, labelled manipulation episodes
