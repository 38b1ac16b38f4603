"""Agents on the local models: tools (`tools`, `calculator`, `workspace`), the constrained ReAct agent
(`decoding`, `chat_model`, `middleware`, `react`), the AutoGen code-verification pair (`executor`, `verify`),
the sandbox both run LLM-written code in (`sandbox`, `sandbox_supervisor`), the typed events of their runs
(`events`) and the run records that store them (`records`); task files and the bundled sets (`tasks`,
`task_sets`), the attempts of a sweep (`attempts`), training data built from them (`run_datasets`) and the
verifier as an RL reward (`rewards`). Front ends reach runs through `services.agent`, `services.verify` and
`services.collect`.
"""
