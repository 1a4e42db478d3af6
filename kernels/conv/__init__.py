"""Message passing on atomic graphs: the convolution tensor product and the edge spherical harmonics."""
