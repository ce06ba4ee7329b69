"""Finetuning as jobs: a spec, data loading, two engines (Trainer, native loop), one event stream."""
