"""Base-model families: the family table, assistant-only masking for any template, `lora doctor`."""

from .families import FAMILIES, Family, detect_family, ensure_pad_token, family_of, stop_token_ids
from .masking import MaskingError, MaskPlan, plan_masking, rendered_example

__all__ = ["FAMILIES", "Family", "MaskPlan", "MaskingError", "detect_family", "ensure_pad_token", "family_of",
           "plan_masking", "rendered_example", "stop_token_ids"]
