"""RQ jobs: route cases, send messages, sweep what the queues missed."""
