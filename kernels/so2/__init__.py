"""The SO(2) (eSCN) convolution: rotate into the edge frame, mix per |m|, rotate back."""
