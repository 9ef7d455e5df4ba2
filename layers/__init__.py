"""Build steps for what Lambda runs: the dependency layer and the code asset (no Docker)."""
