"""Stage two's training app: the loop (loop), a run's lifecycle (lifecycle: train, resume, claim),
starting from a checkpoint (init), validation while training (validate) and the step timer (timing)."""
