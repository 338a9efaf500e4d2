"""`python -m gateway` runs the `gateway` command."""

from gateway.commands import main

main()
