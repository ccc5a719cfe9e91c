"""What users look at: retrieval (paper Fig. 4), figures (Fig. 3, similarity, PCK) and paper tables."""
