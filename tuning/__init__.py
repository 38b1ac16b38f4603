"""Fine-tuning: training data and its formats (`data/`), the training methods over trl and transformers
(`methods/`, one module per method), the run config, launch plans and estimates, the run registry, queue and
worker process, task-head prediction, adapter merges and GGUF export.

Imports only `core` and libraries; heavy libraries (torch, transformers, trl, peft, datasets)
are imported inside the functions that need them.
"""
