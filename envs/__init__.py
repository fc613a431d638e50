"""rljax's own JAX environments. Importing this package registers them with `rljax.make`."""
