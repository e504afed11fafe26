"""mnistlib: small, fast, honest MNIST CNN experiments for the notebook series."""
