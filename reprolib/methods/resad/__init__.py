"""ReSAD (Niu, Dong, Yu, Dang, Ding, arXiv 2303.03817, 2023): region- and spatial-aware
pretrained features in a memory bank; a baseline of ReSynthDetect (Table 2). A
re-implementation from the paper's abstract: no public code exists."""
