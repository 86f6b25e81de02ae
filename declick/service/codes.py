"""The envelope's result codes live in the contract (declick_contract.codes), shared with the engine backend."""

from declick_contract.codes import MESSAGES, Code, reason_text

__all__ = ["MESSAGES", "Code", "reason_text"]
