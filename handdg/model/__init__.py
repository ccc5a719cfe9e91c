"""The model library: the network (network: heatmap net, PosePrior/ViewPoint, Branch2, projection head),
H3D's hand frame (hand_frame), heatmaps (heatmaps: HeatmapCodec), the training targets and their decoding
(targets), the losses (losses) and the import of the authors' released checkpoint (official)."""
