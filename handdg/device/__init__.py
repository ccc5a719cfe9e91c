"""Where and how the network runs: the device and the torchrun process group (distributed), the number
format and memory layout (precision). Used by evaluation, prediction and training alike."""
