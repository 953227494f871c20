"""Re-implementations of other neural video representations, for the speed benchmark."""
