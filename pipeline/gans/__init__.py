"""The GANs: objectives (one module per loss), blocks (shared layers and trunks), the
adversarial model whose train step is the algorithm, input kinds, and families/ (the zoo:
one registered `Family` per file)."""
