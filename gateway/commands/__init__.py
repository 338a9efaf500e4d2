"""The `gateway` command's sub-commands, one module per concern."""
