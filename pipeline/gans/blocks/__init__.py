"""Blocks shared by the families: layers, and the DCGAN trunks."""
