"""Stage two: the hand pose network, its targets, losses and metrics, and the training loop."""
