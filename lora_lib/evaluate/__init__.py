"""Evaluation of one candidate adapter, as separately callable steps (notebook 05 runs them one cell each):

1. generate.py: replies of the base, the previous approved adapter and the candidate (cached by key);
2. gates.py: the automatic gates per reply (language, meta leak, repetition/length, policy);
   quality.py: the reply-set gates: diversity.py, fluency.py (lm_score.py: the base model's log-likelihood),
   relevance.py, consistency.py (persona probes from the card);
3. persona.py: style markers, the character classifier, agreement and leakage;
4. human_ab.py: the blinded A/B set and its ratings;
5. decision.py: one pass/fail decision with reasons, in the gate report;
report.py: the tables, the dashboard and the files written.
`stages.run_evaluate` chains them for a run; `lora evaluate` for any registered adapter.
"""

from .decision import decide, gate_report, merge_scores, score_replies
from .gates import GATES, check_reply, explain_reply, gate_kwargs, gate_scores, score_gates
from .generate import (
    compared_models,
    decoding_of,
    eval_prompt_sets,
    eval_reference_replies,
    generate_all,
    generate_replies,
    generate_samples,
    generation_key,
    previous_approved,
)
from .human_ab import ab_result, ab_round, build_ab_set
from .persona import (
    NEUTRAL,
    CharacterClassifier,
    build_classifier,
    classifier_corpus,
    persona_metrics,
    persona_scores,
    score_persona,
)
from .quality import (
    QUALITY_GATES,
    persona_probes,
    quality_gates,
    quality_table,
    reference_lms,
    score_quality,
    worst_per_gate,
)
from .report import dashboard, gates_table, pass_rates, replies_table, track, worst_replies, write_outputs

__all__ = ["GATES", "NEUTRAL", "QUALITY_GATES", "decoding_of", "generate_samples", "persona_probes",
           "quality_gates", "quality_table", "reference_lms", "score_quality", "worst_per_gate", "CharacterClassifier", "ab_result", "ab_round", "build_ab_set", "build_classifier",
           "check_reply", "classifier_corpus", "compared_models", "dashboard", "decide", "eval_prompt_sets", "eval_reference_replies",
           "explain_reply", "gate_kwargs", "gate_report", "gate_scores", "gates_table", "generate_all",
           "generate_replies", "generation_key", "merge_scores", "pass_rates", "persona_metrics", "persona_scores",
           "previous_approved", "replies_table", "score_gates", "score_persona", "score_replies", "track",
           "worst_replies", "write_outputs"]
