"""Messages to patients: the outbox, the scheduler step that fills it, delivery by `ketaclinic worker`."""
