"""When an organisation leaves: handover of its cases and coverage, the archive, the purge.

`handover` moves the open cases and the coverage of one organisation's focal points to
another's, `archive` writes everything a successor needs into one encrypted file (age, through
pyrage), and `purge` destroys the old server's data with a proof. docs/handover.md is the
procedure.
"""
