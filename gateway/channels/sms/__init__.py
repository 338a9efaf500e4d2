"""SMS: intake saved before the answer, keywords, conversations, and reading one message."""
