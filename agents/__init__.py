"""Agents on the local models: tools, a ReAct agent, the AutoGen code-verification pair and its sandbox.

The agents issue fills this package; the model adapters it builds on live in `core.adapters`.
"""
