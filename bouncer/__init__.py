"""otrs-bouncer: classify machine mail arriving in OTRS/Znuny and act on the ticket."""
