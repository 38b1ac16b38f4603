"""Fine-tuning: datasets and formats, SFT/DPO/ORPO recipes over trl, the run registry and launcher.

Imports only `core` and libraries; heavy libraries (torch, transformers, trl, peft, datasets)
are imported inside the functions that need them.
"""
