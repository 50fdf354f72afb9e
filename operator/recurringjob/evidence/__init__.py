"""Evidence: child-process supervision and the exactly-once verdict from audit logs."""
