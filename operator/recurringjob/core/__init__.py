"""Pure scheduling logic: no I/O, no clock reads (`now` is a parameter)."""
