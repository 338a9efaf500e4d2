"""Getting messages out: providers behind one interface, the send rate, sending, receipts."""
