"""Training exercises: a practitioner decides each contact; the debrief compares."""
