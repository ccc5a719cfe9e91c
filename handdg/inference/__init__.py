"""Running a checkpoint on a user's own images, folders and videos (`handdg predict`)."""
