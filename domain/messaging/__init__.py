"""Order-scoped messaging (SPEC §8): screening first; the conversation aggregate follows."""
