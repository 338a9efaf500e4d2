"""Trends safe to share: alerts counted by month, category and place, small cells hidden.

What is counted (`table`): alerts only (`CaseKind.ALERT`, not waiting for triage). Complaints
about personnel and help requests never appear, whatever their number. An alert confirmed as a
duplicate of another (`duplicate_of_id`) or found to be a false report is left out: one incident
counts once.

- **Month**: the month the alert was received (`created_at`, UTC), as YYYY-MM; the incident's
  own date is often not known.
- **Place at level N** (`places`): the depth in the hierarchy, 0 being the country, so 1 is the
  level below it (prefectures, provinces, states). An alert made deeper than N counts under its
  ancestor at depth N; one made above N (a caller who named only the prefecture when N is 2)
  counts under its own, shallower place, so that nothing is lost from the totals. An alert with no
  place counts on a row of its own, with an empty p-code ("not known"). On the desk, a user who
  covers only part of an area sees their own place instead of the area they do not fully cover.
- **Children** (`children.tally`): girls and boys as the caller counted them, each range by its
  lower bound ("0" 0, "1" 1, "2-3" 2, "4-9" 4, "10+" 10). When neither count is known (both
  "unknown" or not asked) and no count says there was a child, the alert counts one child of
  unknown sex: an alert is about at least one child. Alerts made before girls and boys were
  asked use the older answers (`Case.children`: "1", "2-3", "4+" by lower bound, "unknown" 1;
  `Case.sex`: girls, boys, "both" one girl and one boy and the rest unknown, unknown sex).
- **Suppression** (`suppress`): every count from 1 to threshold - 1 is shown as "<threshold"
  ("<5" by default; never below 3): a small cell can name a child or a reporter in a small
  place. Zero is shown as 0. Nothing that would let a hidden cell be worked out by subtraction is
  shown next to the table (no totals; the chart adds up only the cells shown).
- **Time to first acknowledgement** (`timing`): per area and category, the median and the 90th
  percentile (nearest rank) of the time from receipt to the first acknowledgement, only for cells
  of at least the threshold of acknowledged alerts.
- **Areas without a woman** (`coverage`): areas at the chosen level where no active
  child-protection focal point who is a woman covers the area (her places include it or a place
  above it): cases about girls and sexual violence cannot go to a woman there.
- **Weekly digest** (`digest`): one SMS a week to each active coordinator with counts of their
  area only.

Known limit: tables at two levels (or of overlapping spans) can be subtracted from each other;
publish one level per audience.
"""
