"""Typed params: params/defaults.yaml + params/characters/<id>.yaml + overrides.

A character file lists only what differs from the defaults. Overrides (from a notebook's
parameters cell or `lora run --set key=value`) go on top. Unknown keys and wrong types fail
at load time with a one-line error naming the file and the dotted key.

- params.py  one model per stage (CollectParams, CleanParams, ... MonitorParams) and Params
- evaluate_params.py  the evaluate stage's models (gates, persona, A/B, quality gates)
- load.py    reading and merging the YAML layers, overrides, validation errors, guide warnings
"""

from .evaluate_params import (
    EvaluateParams,
    GateParams,
    HumanABParams,
    PersonaParams,
)
from .load import (
    CHARACTER_ID,
    ConfigError,
    character_markers,
    check_character_id,
    expand_dotted,
    guide_warnings,
    known_characters,
    load_params,
)
from .params import (
    CharacterParams,
    CleanParams,
    CollectParams,
    DatasetParams,
    DpoParams,
    InputParams,
    LoraParams,
    MessageFields,
    MongoSource,
    MonitorParams,
    Params,
    RayParams,
    ServeParams,
    ServeRayParams,
    TrainParams,
    UserFields,
)

__all__ = [
    # load.py
    "CHARACTER_ID", "ConfigError", "character_markers", "check_character_id", "expand_dotted", "guide_warnings",
    "known_characters", "load_params",
    # params.py
    "CharacterParams", "CleanParams", "CollectParams", "DatasetParams", "DpoParams", "EvaluateParams",
    "GateParams", "HumanABParams", "InputParams", "LoraParams", "MessageFields", "MongoSource", "MonitorParams",
    "Params", "PersonaParams", "RayParams", "ServeParams", "ServeRayParams", "TrainParams", "UserFields",
]
