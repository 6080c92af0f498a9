"""The pure core of Support OS: rules only, no I/O, no frameworks, no clock, no randomness."""
