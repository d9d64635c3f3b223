"""coolchic_core."""
