"""Stage one's second artefact: a style bank, one label-preserving image transform per prompt, found with the
frozen CLIP so that the transformed source looks, to CLIP, like the prompt (docs/styles.md)."""
