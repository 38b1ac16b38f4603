"""Agents on the local models: tools (`tools`, `calculator`, `workspace`), the constrained ReAct agent
(`decoding`, `chat_model`, `middleware`, `react`), the AutoGen code-verification pair (`executor`, `verify`),
the sandbox both run LLM-written code in (`sandbox`, `sandbox_supervisor`), and the run records (`records`).
Front ends reach them through `services.agent` and `services.verify`.
"""
