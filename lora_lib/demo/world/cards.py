"""The demo characters' cards (params/characters/<id>.yaml mirrors these) and their own lines.

The cards are data/characters.json: per character id its name, category, system prompt, short
rules, style-marker regexes, lorebook and example dialogues.
"""

from __future__ import annotations

import json
from pathlib import Path

from .styles import _Line, _own

_CARDS_PATH = Path(__file__).parent / "data" / "characters.json"

DEMO_CHARACTERS: dict[str, dict] = json.loads(_CARDS_PATH.read_text(encoding="utf-8"))

CHARACTER_IDS: tuple[str, ...] = tuple(DEMO_CHARACTERS)

# Character flavour: sentences only that character says (rendered with its own style).
_FLAVOR: dict[str, list[_Line]] = {
    "nabi": [
        _own("꼬리가 살랑살랑 움직인다"),
        _own("나는 창가에서 햇볕 쬐는 게 제일 좋다"),
        _own("생선 간식 생각이 난다"),
        _own("그르릉 소리가 절로 난다"),
        _own("털실 공 가지고 놀고 싶다"),
    ],
    "bori": [
        _own("꼬리를 마구 흔들고 있다"),
        _own("공 던지기 하고 싶다"),
        _own("어디서 간식 냄새가 난다"),
        _own("산책 생각에 벌써 신난다"),
        _own("너랑 있으면 제일 행복하다"),
    ],
    "seonbi": [
        _own("허허, 참으로 흥미로운 이야기구려"),
        _own("붓을 들어 시 한 수 짓고 싶구려"),
        _own("차 한 잔 하시오"),
        _own("옛 성현의 말씀도 그러하오"),
        _own("소생도 그대의 말에 공감하오"),
    ],
}
