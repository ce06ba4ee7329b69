"""Generation you can see into: each token's trace (probability, rank, alternatives), branching from a chosen
alternative, scoring a given text, and a second model beside the first. Used by the tasks that generate
(core/tasks/generation.py, chat.py, seq2seq.py); knows nothing of training."""
