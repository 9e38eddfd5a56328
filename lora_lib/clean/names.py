"""Person names in Korean chat: the morphological analyzer, a surname list, given-name syllable
statistics and the words around a name, together.

kiwipiepy (Kiwi) tags proper nouns (NNP) well, but alone it tags some full names, cuts others short
("남궁"+"민수"), and misses spaced ones ("김 민 수"). So:
1. a cheap pre-check (`might_name`) decides whether a line can hold a name at all: a context word
   (이름, 성함, 씨, 님, 선배, 과장, 예금주, family words, ...), a surname-led 3-4 syllable word, a given
   name + particle ("수빈이가"), a Latin-letter or spaced name. Only those lines go to Kiwi, which
   is loaded lazily, once per process;
2. candidates: Kiwi's NNP tokens (adjacent ones merged), plus name-shaped words right after or
   before a context word, plus Latin-letter and spaced-syllable names;
3. a candidate is a person when it is a full name (surname + given syllables that are common in
   names) that Kiwi calls a proper noun, or when context says so (a title or honorific after it, a
   context word before it, a person particle after it), and it is no place/brand on the stop list;
4. policy (clean.pii_names in params): the card's character names stay; a public, historical or
   fictional figure from public_figures.PUBLIC_FIGURES_KO stays unless a private relation is
   named next to it ("손흥민 선배"); everyone else is masked.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import lru_cache

from .public_figures import PUBLIC_FIGURES_KO

Span = tuple[str, int, int]

SURNAMES_2 = ("남궁", "제갈", "선우", "황보", "독고", "사공", "서문", "동방", "어금", "망절")
SURNAMES_1 = ("김이박최정강조윤장임한오서신권황안송류유홍전고문손양배백허남심노하곽성차주우구민나진지엄채원천방공현함변염"
              "여추도소석선설마길연위표명기반라왕금옥육인맹제모탁국어은편용예경봉사부가복태목형피두감음빈동온호범좌팽승간상"
              "갈단견당화창계")
# Syllables that make up most Korean given names (birth-register frequency, 1940s-2020s): a full
# name is surname + one or two of these. Ordinary words rarely are ("정말" has 말, "이번" has 번).
GIVEN = frozenset(
    "가 각 간 갑 강 개 건 걸 겸 경 계 고 곤 관 광 교 구 국 군 권 규 균 근 금 기 길 나 난 남 낭 내 노 다 단 담 대 덕 도 돈 동 두 득 라 란 람 "
    "랑 래 량 려 련 렬 령 례 로 록 론 뢰 료 룡 루 류 륜 률 리 린 림 마 만 매 맹 면 명 모 목 묘 무 문 미 민 배 백 범 법 병 보 복 본 봉 부 분 "
    "비 빈 빛 사 산 삼 상 새 서 석 선 설 섭 성 세 소 솔 송 수 숙 순 술 승 시 식 신 실 심 아 안 애 야 양 어 언 엄 업 여 연 열 염 엽 영 예 오 "
    "옥 온 완 왕 요 용 우 욱 운 웅 원 월 위 유 윤 율 융 은 을 음 응 의 이 익 인 일 임 자 장 재 전 정 제 조 종 좌 주 준 중 지 직 진 집 찬 창 "
    "채 천 철 청 초 춘 충 치 친 칠 탁 태 택 판 평 표 풍 필 하 학 한 함 해 행 향 헌 혁 현 형 혜 호 홍 화 환 황 회 효 후 훈 휘 흠 희 힘 결 별 "
    "늘 솜 봄 슬 담 단 율 린 온 나 라 준 빈 은 유 아 하 서 지 도 시 채 예 윤 주 현 흥 돌 쇠 녀 점 섭 협 탄 겸 갑 순 봉 "
    "을 술 곤 권 걸 엽 돈 령 표 필 환 휘 흔 흠 률 륜 름 늠 랑 록 해 혼 홀 휴 희".split())
# Name-shaped words that are places, brands or ordinary nouns: never a person on shape alone.
_STOP = frozenset("""
이태원 신촌 홍대 명동 성수 강남 한남 정동진 송도 안양 안산 구리 하남 오산 양주 여주 원주 진주 공주 전주 상주 영주 나주 김포
김해 서초 송파 마포 용산 강서 강동 노원 도봉 은평 성북 양천 구로 금천 동작 관악 중랑 성동 광진 종로 해운대 수영 서면 남포 제주
서귀포 강릉 속초 춘천 천안 아산 청주 충주 세종 대전 대구 부산 울산 포항 경주 구미 안동 목포 여수 순천 광양 군산 익산 정읍 남원
판교 분당 일산 동탄 광교 위례 한국 미국 중국 일본 유럽 영국 독일 대만 태국 베트남 조선 고려 신라 백제 가야 발해 한양 경성 한강
남산 설악 지리산 한라산 백두산 동해 서해 남해 제주도 울릉도 독도 강화 인천 광주 수원 성남 용인 고양 부천 화성 평택 시흥 파주
김천 영천 경산 거제 통영 사천 밀양 양산 창원 마산 진해 삼성 현대 엘지 롯데 신세계 이마트 홈플러스 쿠팡 배민 카카오 네이버 구글
애플 유튜브 넷플릭스 스타벅스 이디야 투썸 메가 빽다방 배스킨 던킨 맘스터치 교촌 비비큐 굽네 도미노 다이소 올리브영 무신사 지마켓
옥션 티몬 위메프 당근 번개장터 토스 카뱅 신한 국민 우리 하나 농협 기업 하이닉스 한화 두산 효성 금호 동원 오뚜기 농심 해태 빙그레
조아 정말 진짜 조금 이번 지난 다음 오늘 내일 어제 모두 우리 이제 아까 방금 이미 계속 정도 전부 서로 주로 가끔 항상 자주 전혀 하나
고양이 강아지 이모티콘 장난 장난감 한번 한참 한가 정성 정답 정리 정상 정식 정신 성공 성격 성적 신기 신경 신청 신호 안녕 안전 안경
이상 이유 이해 이후 이전 이야기 장소 전화 전철 전체 조용 조심 주말 주문 주인 차이 최고 최근 최악 최선 한숨 한마디 한편 한국어 공부
공원 공연 공주 왕자 기분 기억 기회 기대 기사 문제 문자 방학 방송 배우 백수 선물 선생 설명 손님 송금 심심 연락 연습 연애 유명 유리
유행 윤기 은행 인기 인사 임시 남자 여자 남친 여친 노래 하루 하늘 나비 보리 구름 별님 해님 달님 마음 사랑 행복 희망 우주 지구 바다
정관장 김부각 신라면 진라면 안성탕면 박카스 조선호텔 신라호텔 한샘 윤선생 구몬 정철 강남스타일 홍삼정 이디야 공차 설빙 김밥천국
기분 마음 생각 사람 시간 음식 사진 영상 운동 날씨 바람 여름 겨울 가을 주문 선물 소식 문제 수업 시험 성적 학원 학교 회사 직장 동네
집중 고민 걱정 기억 기대 인생 세상 사회 문화 역사 정치 경제 과학 수학 국어 영어 미술 음악 체육 연기 연주 연극 소설 만화 웹툰 게임
인형 상자 가방 신발 지갑 안경 시계 반지 목걸이 화장 향수 옷 모자 우산 의자 책상 침대 이불 베개 창문 현관 주방 화장실 욕실 거실
동생 친구 가족 부모 자식 애기 아기 아이 어른 남자 여자 소년 소녀 청년 노인 학생 선수 가수 배우 작가 기자 의사 간호사 경찰 군인
정원 공원 도시 시골 마을 나라 지역 지방 주변 근처 중간 처음 마지막 진심 진실 거짓 비밀 약속 계획 준비 연습 실수 성공 실패 결과
경기 강원 충북 충남 전북 전남 경북 경남 수도권 지방 시골 동네 회사 학교 학원 병원 교회 성당 영화 사진 음악 수업 시험 숙제 과제
선배 후배 동기 과장 대리 팀장 부장 차장 사장 실장 주임 사원 교수 담당 예금주 씨 님 이름 성함 언니 오빠 누나 형 동생 엄마 아빠
""".split())
# Syllables that stand alone as words or digits far more often than as a spaced-out given name ("한 일 이").
_SPACED_STOP = frozenset("공영일이삼사오육륙칠팔구십백천만한그저안못잘좀더또참꼭다막왜뭐난넌나너거게걸건데때것줄번개명분시년월날"
                         "내네제니우리해돼봐줘와가고도는은을를의에서로랑만요")
_PLACE_SUFFIX = frozenset("시도군구동읍면리역로길대점")
# Context: words before a name, and titles/honorifics after one.
_BEFORE = (r"이름(?:은|이|는|을)?|성함(?:은|이)?|예금주(?:는|가|명)?|받는\s?(?:분|사람|이)(?:은|는|이|:)?|보내는\s?(?:분|사람)(?:은|는|:)?|"
           r"담당(?:자|자분)?(?:는|은|가|:)?|수취인(?:은|:)?|명의(?:는|:)?|"
           r"(?:우리|내|제|울|걔|친구)\s?(?:언니|오빠|누나|형|동생|엄마|아빠|남편|아내|와이프|신랑|남친|여친|남자친구|여자친구|친구|"
           r"딸|아들|사촌|조카|이모|삼촌|고모|할머니|할아버지|선배|후배|동기|짝꿍|애인|베프|절친|룸메|상사|부장님|팀장님)(?:은|는|이|가)?|"
           r"(?<![가-힣])(?:언니|오빠|누나|형|동생|친구|남친|여친|남편|아내|와이프|신랑|선배|후배|동기|사촌|조카|짝꿍|베프|절친|룸메)(?=\s)")
_TITLES = (r"씨|님|선배|후배|과장|대리|팀장|부장|차장|사장|실장|주임|사원|교수|선생|쌤|샘|원장|국장|본부장|이사|담당|매니저|기사님|"
           r"작가님|군|양|형|오빠|언니|누나|이모|삼촌|고모|할머니|할아버지|선수님|변호사|의사|간호사|원장님|대표|회장|소장|반장|"
           r"동기|친구|학생|어머님|아버님|어머니|아버지")
_PERSON_JOSA = r"(?:이가|이는|이랑|이한테|이도|이를|이네|이의|이한테서|이하고|이처럼|한테|에게|께|께서|이랑|하고|랑|이야|이에요|예요|야|아)"
_PUBLIC_CONTEXT = re.compile(r"배우|가수|선수|감독|작가|시인|소설|동화|만화|애니|영화|드라마|노래|앨범|콘서트|무대|경기|골|홈런|"
                             r"왕|대왕|장군|황제|왕비|대통령|총리|의원|장관|역사|시대|조선|고려|신라|백제|위인|독립운동|주인공|캐릭터|"
                             r"명언|작품|그림|출연|방송|예능|팬|덕질|유튜버|아이돌|멤버|그룹")
# "강아지 이름은 초코야": a pet's name is no person's.
_PET = re.compile(r"(?:강아지|고양이|냥이|댕댕이|멍멍이|반려견|반려묘|반려동물|햄스터|토끼|앵무새|거북이|물고기|고슴도치|우리\s?개|"
                  r"인형|애착인형|식물|화분|차|자동차|캐릭터)(?:\s?(?:의|이|가))?\s{0,2}(?:이름|애\s?이름)")


def pet_name_at(text: str, start: int) -> bool:
    """True when the word at `start` follows "<pet> 이름(은|이)": the name of a pet or a thing."""
    return bool(_PET.search(text, max(0, start - 16), start))


_PERSON_AFTER = re.compile(r"\s?(?:씨|님|이가|이랑|이한테|한테|에게|께서|이는|랑|가|는)(?![가-힣])|\s?(?:씨|님|선배|후배)")
_PRIVATE_CONTEXT = re.compile(rf"(?:{_BEFORE})\s?$")
_PRIVATE_AFTER = re.compile(r"\s?(?:씨|선배|후배|과장|대리|팀장|부장|차장|실장|주임|사원|교수님|선생님|쌤|담당|매니저)")

_S2 = "|".join(SURNAMES_2)
_HANGUL_NAME = rf"(?:{_S2}|[{SURNAMES_1}])[가-힣]{{1,2}}"
_CONTEXT_BEFORE = re.compile(_BEFORE)
_NAME_AT = re.compile(r"\s{0,2}[:：]?\s{0,2}(?P<v>[가-힣]{2,4}?)"
                            r"(?=이라고|라고|이라|이에요|예요|이야|이고|이구|인데|이는|이가|이랑|이한테|한테|은|는|가|야|님|씨|"
                            r"입니다|이래|래|로|으로|이에게|에게|$|[\s,.!?~:)])")
_BEFORE_TITLE = re.compile(rf"(?<![가-힣])(?P<v>[가-힣]{{2,4}})\s?(?:{_TITLES})(?:님)?(?:이|가|은|는|께서|한테|에게|이랑|랑|도|의|,|\s|$|[!?.~])")
# "박 대리", "김 과장님": a bare surname with a title names a person. "이 선배" also reads "this senior",
# so 이 counts only with the office titles.
_SURNAME_TITLE = re.compile(
    rf"(?<![가-힣])(?P<v>{_S2}|[{SURNAMES_1}])\s(?:(?<=이\s)(?:과장|대리|팀장|부장|차장|실장|주임|교수|씨)|(?<!이\s)(?:선배|후배|과장|"
    r"대리|팀장|부장|차장|실장|주임|사원|교수|선생|쌤|원장|사장|기사|국장|본부장|매니저|씨))(?:님)?"
    r"(?=[^가-힣]|$|이|가|은|는|도|한테|께|랑|의|에게)")
_SPACED = re.compile(rf"(?<![가-힣])(?P<v>(?:{_S2}|[{SURNAMES_1}])\s[가-힣]\s[가-힣])(?![가-힣])")
_ROM_SURNAME = (r"Kim|Lee|Yi|Rhee|Park|Pak|Choi|Choe|Jung|Jeong|Chung|Kang|Cho|Jo|Yoon|Yun|Jang|Chang|Lim|Im|Han|Oh|Seo|Suh|"
                r"Shin|Sin|Kwon|Hwang|Ahn|An|Song|Ryu|Yoo|Yu|Hong|Jeon|Jun|Ko|Go|Moon|Mun|Son|Sohn|Yang|Bae|Baek|Paik|Heo|"
                r"Hur|Nam|Noh|Roh|Ha|Kwak|Sung|Cha|Joo|Ju|Woo|Min|Na|Jin|Ji|Um|Eom|Won|Chun|Namgung|Jegal|Seonwoo|Hwangbo")
_ROM_SYL = r"(?:[bcdghjkmnprstwy]{0,3}(?:yeo|ae|eo|eu|oe|ui|wa|wo|ya|yo|yu|ye|oo|ee|ou|a|e|i|o|u)(?:ng|n|m|k|l|p|t)?)"
_ROM_GIVEN = rf"{_ROM_SYL}(?:[- ]?{_ROM_SYL})"
_LATIN = re.compile(rf"(?<![A-Za-z])(?P<v>(?:{_ROM_SURNAME})[ ](?:{_ROM_GIVEN})|(?:{_ROM_GIVEN})[ ](?:{_ROM_SURNAME}))(?![A-Za-z])",
                    re.IGNORECASE)
_LATIN_CAPS = re.compile(r"^[A-Z][a-z]+[ ][A-Z]")

_G = "[" + "".join(sorted(GIVEN)) + "]"
# Given-name syllables that rarely end a name but often end an ordinary word or are a particle
# ("오늘도", "주세요", "기분이", "최고의"): a surname-led word ending in one is no full name on shape alone.
GIVEN_LAST = GIVEN - frozenset("도요는을를의고면야다까니네게만께랑와과에로이해세시가")
_GL = "[" + "".join(sorted(GIVEN_LAST)) + "]"
_FOLLOW = r"(?=[^가-힣]|$|[이가은는을를의도와과랑한에께씨님아야인라로만까처보하입임네])"
# A surname-led full name at the start of a word ("이정숙인데", "한지훈 과장님").
_FULL = re.compile(rf"(?<![가-힣0-9])(?P<v>(?:{_S2}){_G}?{_GL}|[{SURNAMES_1}]{_G}{_GL}){_FOLLOW}")
# A given name with a person particle ("수빈이가", "민준아", "지우한테").
_GIVEN_JOSA = re.compile(rf"(?<![가-힣0-9])(?P<v>{_G}{_GL})(?:이가|이랑|이한테|이는|이도|이를|이네|이야|이|아|야|한테|에게|이하고|이에게|가|는|랑|하고|이의|네|이네|이처럼)"
                         r"(?![가-힣])")
_CONTEXT_WORD = re.compile(_BEFORE + r"|선배|후배|과장|대리|팀장|부장|차장|실장|주임|교수|쌤|담당|매니저|(?<![가-힣0-9])" + _G + r"{1,3}\s?(?:씨|님)(?![가-힣])")
# A given name, a space, then a family title or a pointer word: "채원 언니가", "준서 걔".
_TITLE_AFTER = re.compile(rf"(?<![가-힣0-9])(?P<v>{_G}{_GL})\s(?:언니|오빠|누나|형|선배|후배|선배님|쌤|걔|이모|삼촌)"
                          r"(?=[^가-힣]|$|이|가|은|는|도|한테|랑|께|님)")
_HAS_LATIN = re.compile(r"[A-Za-z]{2}")

_kiwi = None
_kiwi_lock = threading.Lock()


def _analyzer():
    """Kiwi, loaded once per process on first use (about 1.5 s and 100 MB); warnings about the
    num_workers default of older versions are silenced."""
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                import warnings

                from kiwipiepy import Kiwi

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _kiwi = Kiwi(num_workers=0)  # one thread, no pool: cheapest per call and safe to fork
    return _kiwi


def might_name(text: str) -> bool:
    """The cheap pre-check: False means the line cannot hold a name these rules would mask."""
    if _CONTEXT_WORD.search(text) or _SPACED.search(text) or _SURNAME_TITLE.search(text) \
            or (_HAS_LATIN.search(text) and _LATIN.search(text)):
        return True
    return any(m.group("v") not in _STOP for rx in (_FULL, _GIVEN_JOSA, _TITLE_AFTER) for m in rx.finditer(text))


# Kiwi gives a word it does not know the generic morpheme of its tag (ids below this): an unknown
# word shaped like surname + given name is most likely a name ("박서연" -> NNG #2, "도서관" -> NNG #3026).
_OOV_ID = 64


@lru_cache(maxsize=65536)
def _tags(window: str) -> tuple[tuple[int, int, str], ...]:
    """Kiwi's tokens in a short window: (start, end, tag), adjacent proper nouns merged ("남궁"+"민수");
    an unknown word's tag is "OOV"."""
    out: list[tuple[int, int, str]] = []
    for t in _analyzer().tokenize(window):
        tag = "OOV" if t.id < _OOV_ID and t.tag.startswith("NN") else t.tag
        if tag in ("NNP", "OOV") and all("가" <= c <= "힣" for c in t.form):
            if out and out[-1][2] in ("NNP", "OOV") and out[-1][1] == t.start:
                out[-1] = (out[-1][0], t.start + t.len, "NNP")
                continue
            tag = "NNP" if tag == "NNP" else "OOV"
        out.append((t.start, t.start + t.len, tag))
    return tuple(out)


def _kiwi_says(text: str, s: int, e: int) -> str:
    """"NNP" when Kiwi reads text[s:e] (or its start) as a proper noun, "oov" as a word it does not know,
    "word" as an ordinary word, "" otherwise. Kiwi sees only a window around the candidate: its cost
    grows with the text."""
    w0 = max(0, s - 10)
    window = text[w0:min(len(text), e + 8)]
    if e - s == 2 and _suffix_i(window, e - w0):
        return "NNP"  # "서진이한테", "태윤이네": Kiwi reads the friendly 이 after a given name as a suffix
    for ts, te, tag in _tags(window):
        ts, te = ts + w0, te + w0
        if ts == s and tag == "NNP" and te >= s + 2:
            return "NNP"
        if ts == s and tag == "OOV" and te >= s + 2:
            return "oov"
        if ts <= s < te or s <= ts < e:
            if tag in ("NNG", "VV", "VA", "MAG", "NP", "NR", "MM", "XR", "NNB", "IC", "VX") and te - ts >= 2:
                return "word"
    return ""


def _hangul_at(text: str, i: int) -> bool:
    return i < len(text) and "가" <= text[i] <= "힣"


def _suffix_i(window: str, i: int) -> bool:
    return any(ts == i and tag == "XSN" and window[ts:te] == "이" for ts, te, tag in _tags(window))


def _shape_full(w: str) -> bool:
    """Surname + one or two given-name syllables, each common in names."""
    for s in SURNAMES_2:
        if w.startswith(s) and 3 <= len(w) <= 4:
            return all(c in GIVEN for c in w[2:]) and w[-1] in GIVEN_LAST
    return len(w) == 3 and w[0] in SURNAMES_1 and w[1] in GIVEN and w[2] in GIVEN_LAST


def _shape_given(w: str) -> bool:
    return len(w) == 2 and w[0] in GIVEN and w[1] in GIVEN_LAST


def _public(name: str, text: str, start: int, end: int) -> bool:
    """A gazetteer figure talked about as such: no private relation named right next to it, and
    for a short (given-name-like) entry a public context word in the line."""
    if name not in PUBLIC_FIGURES_KO:
        return False
    if _PRIVATE_CONTEXT.search(text, 0, start) or _PRIVATE_AFTER.match(text, end):
        return False
    return len(name) >= 3 or bool(_PUBLIC_CONTEXT.search(text))


def find_names(text: str, keep: Iterable[str] = (), public_kept: bool = True) -> list[Span]:
    """(NAME, start, end) for every private person's name in `text`; `keep` are names that stay
    (the card's character names); `public_kept` keeps gazetteer figures talked about as such."""
    if not might_name(text):
        return []
    keep = set(keep)
    # span -> evidence: "ctx" (a context word says person), "josa" (a person particle), "shape" (full name)
    cands: dict[tuple[int, int], str] = {}
    for c in _CONTEXT_BEFORE.finditer(text):
        if (m := _NAME_AT.match(text, c.end())) and not pet_name_at(text, m.start("v")):
            cands[(m.start("v"), m.end("v"))] = "ctx"  # "이름이 이정숙인데": the name ends where a particle starts
    for m in (*_BEFORE_TITLE.finditer(text), *_TITLE_AFTER.finditer(text)):
        cands.setdefault((m.start("v"), m.end("v")), "ctx")
    for m in _FULL.finditer(text):
        cands.setdefault((m.start("v"), m.end("v")), "shape")
    for m in _GIVEN_JOSA.finditer(text):
        cands.setdefault((m.start("v"), m.end("v")), "josa")
    out: list[Span] = []
    for m in _SURNAME_TITLE.finditer(text):  # "박 대리", "김 과장님": the surname alone names the person
        out.append(("NAME", m.start("v"), m.end("v")))
    for m in _SPACED.finditer(text):
        w = m.group("v")
        if all(c in GIVEN and c not in _SPACED_STOP for c in w[2::2]) and w.replace(" ", "") not in keep:
            out.append(("NAME", m.start("v"), m.end("v")))
    if _HAS_LATIN.search(text):
        for m in _LATIN.finditer(text):
            if _LATIN_CAPS.match(m.group("v")) or _PRIVATE_CONTEXT.search(text, 0, m.start("v")) \
                    or re.match(r"\s?(?:씨|님|선배|이가|가|는|한테|라고|이라고)", text[m.end("v"):]):
                out.append(("NAME", m.start("v"), m.end("v")))
    for (s, e), why in sorted(cands.items()):
        w = text[s:e]
        # "태현아", "도윤이 형": the vocative 아/야 and the friendly 이 after a given name are not the name
        if len(w) == 3 and _shape_given(w[:2]) and (w[2] in "아야" and not _hangul_at(text, e)
                                                    or w[2] == "이" and (ord(w[1]) - 0xAC00) % 28):
            e, w = e - 1, w[:2]
        if w in keep or w in _STOP or len(w) < 2 or (w[-1] in _PLACE_SUFFIX and w[:-1] in _STOP):
            continue
        if not (_shape_full(w) or _shape_given(w) or why == "ctx"):
            continue
        if why != "ctx" and w[-1] in _PLACE_SUFFIX and len(w) == 3:  # "연남동", "서면역": a place on shape alone
            continue
        says = "NNP" if w.startswith(SURNAMES_2) and _shape_full(w) else _kiwi_says(text, s, e)
        # a full name Kiwi does not read as one word either way, with a person particle after it, counts
        if why == "shape" and says == "" and _PERSON_AFTER.match(text, e):
            says = "NNP"
        if says == "oov":  # an unknown word: a name when shaped like one
            says = "NNP" if _shape_full(w) or (why != "shape" and _shape_given(w)) else ""
        if says == "word" or (why == "shape" and says != "NNP") or (why == "josa" and says != "NNP"):
            continue
        if why == "ctx" and says != "NNP" and not (_shape_full(w) or _shape_given(w)):
            continue
        if public_kept and _public(w, text, s, e):
            continue
        out.append(("NAME", s, e))
    return out
