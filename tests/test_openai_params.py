"""The OpenAI parameter table (lora_lib/serve/openai_params.py): the README shows exactly the generated
table, refusal() answers as the table says, and every supported row names the test that covers it."""

from __future__ import annotations

import re
from pathlib import Path

from lora_lib.serve.openai_params import BOTH, BY_NAME, CHAT, COMPLETIONS, PARAMS, refusal, table

README = Path(__file__).resolve().parent.parent / "README.md"

# Each supported parameter -> the test in tests/test_openai_api.py that sends it through the real openai
# client, streamed and not. test_every_supported_row_names_a_test checks this list is complete.
COVERED = {
    "model": "test_max_completion_tokens_user_name_and_stream_options",
    "messages": "test_max_completion_tokens_user_name_and_stream_options",
    "prompt": "test_completions_plain_prompt_streamed_and_not",
    "stream": "test_completions_plain_prompt_streamed_and_not",
    "stream_options": "test_max_completion_tokens_user_name_and_stream_options",
    "max_tokens": "test_max_completion_tokens_user_name_and_stream_options",
    "max_completion_tokens": "test_max_completion_tokens_user_name_and_stream_options",
    "temperature": "test_seed_temperature_top_p_and_n_choices_in_one_batch",
    "top_p": "test_seed_temperature_top_p_and_n_choices_in_one_batch",
    "seed": "test_seed_temperature_top_p_and_n_choices_in_one_batch",
    "n": "test_seed_temperature_top_p_and_n_choices_in_one_batch",
    "stop": "test_stop_string_across_stream_chunks_is_never_sent",
    "logprobs": "test_logprobs_match_a_separate_forward_pass_streamed_and_not",
    "top_logprobs": "test_logprobs_match_a_separate_forward_pass_streamed_and_not",
    "presence_penalty": "test_penalties_match_the_engine_streamed_and_not",
    "frequency_penalty": "test_penalties_match_the_engine_streamed_and_not",
    "repetition_penalty": "test_penalties_match_the_engine_streamed_and_not",
    "user": "test_max_completion_tokens_user_name_and_stream_options",
    "ignore_eos": "test_max_completion_tokens_user_name_and_stream_options",
    "user_name": "test_max_completion_tokens_user_name_and_stream_options",
}


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- openai-params:start -->\n(.*?)<!-- openai-params:end -->", text, re.S)
    assert m, "README.md has no <!-- openai-params:start --> ... <!-- openai-params:end --> block"
    return m.group(1)


def test_readme_table_is_the_generated_one():
    assert readme_table() == table(), "regenerate it: python -m lora_lib.serve.openai_params"


def test_every_supported_row_names_a_test():
    assert set(COVERED) == {p.name for p in PARAMS if p.supported}
    tests = Path(__file__).resolve().parent
    source = (tests / "test_openai_api.py").read_text(encoding="utf-8")
    for name, func in COVERED.items():
        assert f"def {func}(" in source, (name, func)


def test_refusal_follows_the_table():
    assert len(BY_NAME) == len(PARAMS)  # one row per name
    for p in PARAMS:
        for endpoint in (CHAT, COMPLETIONS):
            if endpoint not in p.endpoints:
                assert "unknown parameter" in refusal(p.name, p.example, endpoint)
            elif p.supported:
                assert refusal(p.name, p.example, endpoint) is None
            else:
                assert p.name in refusal(p.name, p.example, endpoint), p.name
                assert refusal(p.name, None, endpoint) is None  # null asks for nothing
                for v in p.noop:
                    assert refusal(p.name, v, endpoint) is None, (p.name, v)
    assert refusal("n", 2, CHAT) is None and BY_NAME["n"].endpoints == BOTH
    assert "unknown parameter" in refusal("temprature", 0.5, CHAT)  # a typo is not silently dropped
    assert refusal("top_k", 0, CHAT) is None and refusal("top_k", 5, CHAT)
