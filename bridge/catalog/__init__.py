"""The org catalog: metadata snapshots (describe, Tooling API records) and the documentation made of them."""
