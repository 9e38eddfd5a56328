"""The typed params, one model per stage, and `Params`, which holds them all.

Every field has a default and a short why; `extra="forbid"` makes an unknown key fail at load
time (lora_lib.config.load turns the error into one line naming the file and the dotted key).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from .evaluate_params import (
    EvaluateParams,
)
from .strict import Strict as _Strict

_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d+$")


class CharacterParams(_Strict):
    name: str
    category: str
    # The short system prompt the adapter is trained and served with: core rules only,
    # never the card's long systemPrompt, lorebook or RAG context.
    system_prompt: str
    style_markers: list[str] = Field(min_length=1)  # regexes; a reply "hits" if any matches
    banned_words: list[str] = []


class InputParams(_Strict):
    # "{store}" expands to the store root, so the demo world lives with the runs.
    messages: str = "{store}/demo/world/messages.json"
    users: str = "{store}/demo/world/users.json"
    characters: str = "{store}/demo/world/characters.json"
    gold: str = "{store}/demo/world/gold.jsonl"
    deletion_requests: str = "{store}/demo/world/deletion_requests.jsonl"


class MessageFields(_Strict):
    id: str = "_id"
    chat_id: str = "chatId"
    character_id: str = "characterId"
    user_id: str = "userId"
    role: str = "role"
    content: str = "content"
    created_at: str = "createdAt"
    safety_flags: str = "safetyFlags"


class UserFields(_Strict):
    id: str = "_id"
    nickname: str = "nickname"
    profile_name: str = "name"  # optional; like the nickname, typed in chat it becomes {{user}}
    opt_in: str = "trainingOptIn"
    opt_in_at: str = "optInAt"


class MongoSource(_Strict):
    """A live MongoDB to read instead of export files (collect.collect_from_mongo)."""
    uri: str  # e.g. mongodb://reader@host:27017/?authSource=admin (credentials from the environment)
    database: str
    messages_collection: str = "messages"
    users_collection: str = "users"


class CollectParams(_Strict):
    # The salt makes user_ref useless for joining against other systems; set your own.
    salt: str = "demo-salt"
    fields: MessageFields = MessageFields()
    user_fields: UserFields = UserFields()
    roles: dict[str, Literal["user", "assistant", "system"]] = {
        "user": "user", "character": "assistant", "assistant": "assistant", "bot": "assistant",
        "system": "system",
    }
    # A chat message is never this big; a document over it is quarantined, not parsed.
    max_document_bytes: int = Field(262_144, ge=1024)
    max_message_chars: int = Field(20_000, ge=1)
    mongo: MongoSource | None = None  # set to read a live MongoDB instead of inputs.messages/users
    # Only messages in [since, until) are collected (others are counted as out_of_time_range).
    since: datetime | None = None
    until: datetime | None = None


class CleanParams(_Strict):
    min_chars: int = Field(2, ge=0)  # shorter turns carry no style
    max_chars: int = Field(1000, gt=0)
    max_char_run: int = Field(6, ge=2)  # "ㅋㅋㅋㅋㅋㅋㅋ…" beyond this is spam
    min_hangul_share: float = Field(0.5, ge=0, le=1)  # of letters; Korean-only by default
    exclude_safety_flags: list[str] = ["nsfw", "violence", "hate", "self_harm"]
    meta_patterns: list[str] = [
        r"(나는|난|저는|전)\s*(사실\s*)?(AI|에이아이|인공지능|챗봇|언어\s*모델)",
        r"언어\s*모델", r"시스템\s*프롬프트", r"프롬프트에\s*따르면", r"개발자\s*(지시|프롬프트)",
        r"\bAI\s*(assistant|model)\b",
        # "…가 아니라 인공지능이다", "챗봇입니다", "AI 어시스턴트로서": the AI word as what the speaker is
        r"(AI|에이아이|인공지능|챗봇|언어\s*모델|어시스턴트)\s*(이다|입니다|이에요|예요|이야|야|이오|이라서|라서|로서|이라|일\s*뿐)",
        r"(OpenAI|오픈\s*AI|ChatGPT|챗\s*GPT|GPT|Anthropic|앤트로픽|Claude|클로드|Gemini|제미나이)[가이]?\s*(만든|개발한|훈련)",
    ]
    spam_patterns: list[str] = [r"https?://", r"www\.", r"무료\s*쿠폰", r"광고", r"bit\.ly"]
    repeat_sentence_max: int = Field(2, ge=1)  # same sentence more often than this in a turn
    leakage_check: bool = True  # reject assistant turns in another character's style
    # The same assistant reply kept at most this often per character (canned replies teach nothing).
    max_duplicate_turns: int = Field(3, ge=1)
    # Optional: a character classifier trained on every character's gold/card lines also rejects
    # assistant turns it gives to another character with at least this probability.
    leakage_classifier: bool = False
    leakage_min_prob: float = Field(0.75, gt=0.5, le=1)
    # Worker processes for the per-turn work of big exports (same result as 1; pays off past ~50k turns).
    num_proc: int = Field(1, ge=1, le=64)
    # Person names: "private" masks private persons and keeps public/historical/fictional figures talked
    # about as such (gazetteer: clean/public_figures.py); "all" masks those too; "off" masks no names.
    pii_names: Literal["private", "all", "off"] = "private"
    pii_keep_names: list[str] = []  # names that always stay, beside the characters' own
    # The learned second pass after the PII rules (clean/tagger.py, a character CRF trained on the labelled
    # sets): adds spans the rules missed whose probability is >= tagger_min_prob (chosen by leave-one-set-out
    # cross-validation: python -m lora_lib.clean.tagger_train --cross-validate); false gives the rules alone.
    tagger: bool = True
    tagger_min_prob: float = Field(0.8, gt=0, lt=1)
    # Where the per-turn work runs: here (num_proc processes) or as Ray Data map_batches on the cluster at
    # `ray.address` (pip install -e .[ray]). Same functions, same result, same dataset version.
    executor: Literal["local", "ray"] = "local"
    ray_workers: int | None = Field(None, ge=1)  # concurrent map_batches tasks; None = as the cluster allows
    ray_batch_size: int = Field(200, ge=1)  # conversations per map_batches call

    def content_config(self) -> dict:
        """The fields that decide what cleaning keeps (a dataset version's id covers these): where the work
        ran is left out, so the local and the Ray path give the same version."""
        return self.model_dump(exclude={"executor", "ray_workers", "ray_batch_size"})


class DatasetParams(_Strict):
    eval_fraction: float = Field(0.15, gt=0, lt=1)
    gold_weight: int = Field(1, ge=1, le=10)  # gold dialogues repeated this often in train
    min_train_records: int = Field(10, ge=1)
    # One adapter per character (default) or per category: a category dataset is the union of its
    # characters' data, each record keeping its own character's system prompt.
    scope: Literal["character", "category"] = "character"
    # Negative examples from monitoring (JSONL; "{store}" and "{character}" expand); when present they
    # become preference pairs in the version (used by train.method: dpo).
    negatives: str | None = None


class LoraParams(_Strict):
    r: int = Field(16, ge=1, le=512)  # guide: 8-32
    alpha: int = Field(64, ge=1)  # guide: 16-64, usually 2*r
    dropout: float = Field(0.05, ge=0, lt=1)  # guide: 0-0.1
    target_modules: str | list[str] = "all-linear"
    # rsLoRA scales the update by alpha/sqrt(r) instead of alpha/r: stable at higher r, and a
    # stronger update for the same r/alpha/lr (Kalajdzievski 2023; PEFT `use_rslora`).
    rslora: bool = True


class DpoParams(_Strict):
    beta: float = Field(0.1, gt=0)  # strength of the pull towards the SFT adapter
    learning_rate: float = Field(5e-5, gt=0)
    epochs: float = Field(1, gt=0)
    batch_size: int = Field(4, ge=1)
    max_steps: int = -1


class TrainParams(_Strict):
    # dpo = SFT LoRA first, then TRL DPOTrainer on the version's preference pairs from that adapter.
    method: Literal["lora", "qlora", "dpo"] = "lora"
    lora: LoraParams = LoraParams()
    learning_rate: float = Field(2e-4, gt=0)  # guide: 1e-4..2e-4
    epochs: float = Field(3, gt=0)  # guide: 1-3
    batch_size: int = Field(4, ge=1)
    max_length: int = Field(256, ge=16)  # tokens; the demo's chats are short
    max_steps: int = -1  # >0 caps the run (tests, smoke runs)
    # fp32 on CPU: bf16 without bf16 units was ~20x slower here (DESIGN.md section 9).
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    # Batches of similar length: far less padding than random batches (DESIGN.md section 9).
    group_by_length: bool = True
    # CPU: run the LM head only where a label is (assistant tokens), not on every position.
    selective_lm_head: bool = True
    save_steps: int = Field(0, ge=0)  # checkpoint every N steps for --resume; 0 = once per epoch
    dpo: DpoParams = DpoParams()


class ServeRayParams(_Strict):
    """`lora serve --ray`: the engine as a Ray Serve deployment (pip install -e .[ray]; README "Past one machine")."""

    num_replicas: int = Field(2, ge=1)  # engine replicas; requests for an adapter go to one that holds it
    max_adapters_per_replica: int = Field(4, ge=1)  # @serve.multiplexed LRU per replica (= its engine's cache)
    num_cpus: float = Field(1, gt=0)  # per engine replica (the HTTP front reserves none)
    # None: RAY_ADDRESS, else a new local cluster; "auto": the cluster `ray start` runs here; ray://HOST:10001
    address: str | None = None

    @model_validator(mode="after")
    def _address_form(self):
        a = self.address
        if a is not None and a not in ("auto", "local") and not a.startswith("ray://") and not _HOST_PORT.match(a):
            raise ValueError(f"serve.ray.address {a!r}: expected auto, local, ray://HOST:PORT or HOST:PORT")
        return self


class ServeParams(_Strict):
    registry_url: str = "sqlite:///{store}/registry.sqlite"
    # The HTTP server (`lora serve`). Logs: schema in lora_lib/serve/routes.py (request log = monitor's input).
    request_log: str = "{store}/serve/request_log.jsonl"
    error_log: str = "{store}/serve/request_errors.jsonl"
    feedback_log: str = "{store}/serve/feedback.jsonl"
    adapter_cache: int = Field(8, ge=1)          # adapters kept loaded (LRU), per base
    # Bases kept loaded at once (one engine per base, LRU; lora_lib/engine/pool.py): loading another evicts
    # the least recently used idle one when either bound would be passed. Memory = parameter + buffer bytes
    # of the loaded base (float32 on CPU: 4 bytes a parameter, ~2 GB for a 0.5B model); None: no bound.
    max_bases: int = Field(2, ge=1)
    base_memory_mb: float | None = Field(None, gt=0)
    # Other bases this server may load (paths or hub ids) besides base_model: where a base whose registered
    # path is gone (a moved store) is looked for, by identity.
    base_models: list[str] = Field(default_factory=list)
    max_batch: int = Field(8, ge=1)              # rows per generate() call
    batch_wait_ms: float = Field(5.0, ge=0)      # how long a batch waits for more requests
    mixed_batches: bool = True                   # different adapters in one batch (PEFT adapter_names)
    batched_lora: bool = True                    # mixed batches in one bmm pair per layer, not PEFT's loop
    max_tokens_default: int = Field(48, ge=1)
    # Decoding when a request names none. 0 = greedy, what the gates measured offline; OpenAI's own
    # default is 1.0. A request's temperature / top_p / seed override these for that request.
    temperature: float = Field(0.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens_limit: int = Field(256, ge=1)
    max_n: int = Field(8, ge=1)                  # choices per request (n); they share one batch (<= max_batch)
    max_request_bytes: int = Field(262144, ge=1024)  # larger bodies: 413
    max_message_chars: int = Field(4000, ge=1)   # longer messages: 400
    chat_requires_key: bool = False              # LORA_API_KEY for chat too (admin always needs it)
    default_user_name: str = "당신"               # fills {{user}} when the caller gives no display name
    load_retry_s: float = Field(30.0, ge=0)      # a version that failed to load is retried after this
    # Stage 06: a newly approved version replaces no stable at once; it goes to this share of users
    # as a candidate (sticky), unless auto_promote. The first version of a character becomes stable.
    rollout_percent: float = Field(10.0, ge=0, le=100)
    auto_promote: bool = False
    # Generation backend: "engine" (in process) or "vllm" (a vLLM OpenAI-compatible server started with
    # --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; untested here, see README). Routing,
    # rollout, logs, gates and metrics stay in our server either way.
    backend: Literal["engine", "vllm"] = "engine"
    vllm_url: str | None = None                  # e.g. http://gpu-host:8000: the vLLM serving base_model
    # One vLLM server per other base: {base path, hub id or identity ("sha256:...") : url}.
    vllm_urls: dict[str, str] = Field(default_factory=dict)
    vllm_model: str | None = None                # the base model's name in vLLM; None: base_model as given
    vllm_timeout_s: float = Field(120.0, gt=0)   # per request to vLLM
    vllm_max_concurrency: int = Field(64, ge=1)  # requests in flight to vLLM (it batches them itself)
    ray: ServeRayParams = ServeRayParams()  # `lora serve --ray` only

    @model_validator(mode="after")
    def _vllm_needs_url(self):
        if self.backend == "vllm" and not self.vllm_url and not self.vllm_urls:
            raise ValueError("serve.vllm_url is required when serve.backend is 'vllm' "
                             "(e.g. --set serve.vllm_url=http://gpu-host:8000), or serve.vllm_urls per base")
        return self


class MonitorParams(_Strict):
    n_users: int = Field(40, ge=1)
    n_requests: int = Field(60, ge=1)
    max_violation_rate: float = Field(0.2, ge=0, le=1)
    max_latency_p95_ms: float = Field(5000, gt=0)
    # "relative": a latency alert rolls a version back only when another version of the character stayed under
    # the threshold on the same window (on a loaded demo machine requests took 1-7 s and the absolute threshold
    # rolled back a fresh, good stable: the host was slow, not the adapter). "any": every latency alert may act.
    latency_rollback: Literal["relative", "any"] = "relative"
    min_requests: int = Field(20, ge=1)
    # Candidate vs stable: the candidate arm may be judged from this many known outcomes (stable still needs
    # min_requests). A bad candidate loses its users (they leave), so at 20% rollout it saw 9-20 requests in 200
    # on the demo. The exact test is valid at any n and its per-look level alpha/m is strict (p < 0.001 for
    # m = 10): 5 of 5 against a stable rate of 0.3 does not alert. 10 missed one of 12 demo runs (9 candidate
    # requests in 200); at 5, simulated looks every 10 requests under the null raise a false alarm in <= 0.4%
    # of 200-request runs per metric, and three control runs (candidate = a copy of stable) raised none.
    min_candidate_requests: int = Field(5, ge=1)
    # Notional serving cost per 1,000 tokens (a self-hosted GPU's price spread over its tokens).
    price_per_1k_prompt_tokens: float = Field(0.0, ge=0)
    price_per_1k_completion_tokens: float = Field(0.0, ge=0)
    window: str = "15min"  # time series and alert windows (a pandas duration)
    min_thumbs_up_share: float | None = Field(None, ge=0, le=1)  # None: feedback is shown, never alerts
    min_feedback: int = Field(20, ge=1)  # ratings needed before thumbs-up share may alert
    # Candidate vs stable on the same window: one-sided Fisher exact test per gate, Bonferroni over gates.
    alpha: float = Field(0.01, gt=0, lt=1)
    min_rate_diff: float = Field(0.05, ge=0, le=1)  # smaller differences never alert, however many samples
    auto_rollback: bool = False  # an alert on a live candidate or freshly promoted stable rolls it back
    # No second auto-rollback of a character this soon after a rollback, unless a person changed the route since.
    cooldown_s: float = Field(600, ge=0)
    fresh_promotion_s: float = Field(3600, ge=0)  # a stable promoted this recently still counts as on trial
    watch_interval_s: float = Field(30, gt=0)
    # Served-reply signals, candidate vs stable with the same test: a reply equal to one of the version's last
    # repeat_window replies to another prompt is a repeat; a user who does not write again within the next
    # retention_window requests of the character has left (retention = the rest).
    repeat_window: int = Field(20, ge=1)
    retention_window: int = Field(50, ge=1)
    signals: bool = True  # score served replies for style marker and fluency (loads the base model once)


class RayParams(_Strict):
    """`lora run/sweep --executor ray` and `clean.executor: ray` (pip install -e .[ray]; README "Past one machine")."""

    # None: RAY_ADDRESS, else a new local cluster; "auto": the cluster `ray start` runs here; ray://HOST:10001
    address: str | None = None
    num_cpus: float = Field(1, gt=0)  # per character chain (one Ray task)
    train_num_gpus: float = Field(0, ge=0)  # per chain whose plan includes the train stage
    memory_gb: float | None = Field(None, gt=0)  # per chain; None = no memory reservation
    max_retries: int = Field(2, ge=0)  # a chain whose worker or node died is run again (it resumes)


class Params(_Strict):
    character_id: str
    seed: int = 0
    store: str = "runs"
    tracking: Literal["offline", "online", "none"] = "offline"
    wandb_project: str = "lora-characters"
    # W&B group of the stage runs; default "<character>-<run_id>". A sweep puts all its points in one group.
    wandb_group: str | None = None
    # A local path or a Hugging Face model id; the demo builds its own tiny model.
    base_model: str = "{store}/demo/base_model"
    inputs: InputParams = InputParams()
    collect: CollectParams = CollectParams()
    clean: CleanParams = CleanParams()
    dataset: DatasetParams = DatasetParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    serve: ServeParams = ServeParams()
    monitor: MonitorParams = MonitorParams()
    ray: RayParams = RayParams()
    character: CharacterParams

    def path(self, template: str) -> Path:
        """Expand "{store}" in a configured path."""
        return Path(template.replace("{store}", self.store))

    def registry_url(self) -> str:
        """The registry's database URL with "{store}" expanded to the absolute store root."""
        return self.serve.registry_url.replace("{store}", str(Path(self.store).resolve()))

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.model_dump(), sort_keys=True).encode()).hexdigest()
