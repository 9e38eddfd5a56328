"""The words and patterns of person-name detection (clean/names.py): surnames, given-name syllables,
stop words, context words before a name, titles and particles after one, and the compiled regexes.

Every pattern is bounded (tests/test_clean_pii_bounds.py checks each is linear on adversarial input).
"""

from __future__ import annotations

import re

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
이모 삼촌 고모 이모부 고모부 외삼촌 숙모 숙부 큰엄마 큰아빠 작은엄마 작은아빠 외할머니 외할아버지 할머니 할아버지 조카 사촌 형부 제부
시누 시누이 동서 사돈 장모 장인 처남 매제 아줌마 아저씨 이모님 삼촌님 고모님
차주 차주분 남자분 여자분 그쪽 집주인 전남친 전여친 남동생 여동생 새언니 형부 매형 올케 처제 막내 짝꿍 동료 인턴 신입 인스타 카톡 디코 우리집 저희집 동방신기 서연고 서성한
중경외시 건동홍 국숭세단 이모지 본계 부계 뒷계 길고양이 들고양이 아기고양이 이분 그분 저분 이놈 그놈 저놈 이애 그애 저애 이자 그자 배송지 목적지 고조선 고구려 후백제 후고구려 대한제국 대한민국 변호사 세무사 회계사 법무사 노무사 약사 미용사 요리사 조리사 간호사 판사 검사
""".split())
# Syllables that stand alone as words or digits far more often than as a spaced-out given name ("한 일 이").
_SPACED_STOP = frozenset("공영일이삼사오육륙칠팔구십백천만한그저안못잘좀더또참꼭다막왜뭐난넌나너거게걸건데때것줄번개명분시년월날"
                         "내네제니우리해돼봐줘와가고도는은을를의에서로랑만요")
_PLACE_SUFFIX = frozenset("시도군구동읍면리역로길대점관")  # 관: a hall ("공학관", "체육관")
# Context: words before a name, and titles/honorifics after one.
_BEFORE = (r"이름(?:은|이|는|을)?|(?:성함|존함|성명|본명|실명)(?:은|이)?|예금주(?:는|가|명)?|받는\s?(?:분|사람|이)(?:은|는|이|:)?|보내는\s?(?:분|사람)(?:은|는|:)?|"
           r"담당(?:자|자분)?(?:는|은|가|:)?|수취인(?:은|:)?|명의(?:는|:)?|"
           r"(?<![가-힣])(?:우리|내|제|울|걔|친구)\s?(?:언니|오빠|누나|형|동생|엄마|아빠|남편|아내|와이프|신랑|남친|여친|남자친구|여자친구|친구|"
           r"딸|아들|사촌|조카|이모|삼촌|고모|할머니|할아버지|선배|후배|동기|짝꿍|애인|베프|절친|룸메|상사|부장님|팀장님)(?:은|는|이|가)?|"
           r"(?<![가-힣])(?:언니|오빠|누나|형|동생|친구|남친|여친|남편|아내|와이프|신랑|선배|후배|동기|사촌|조카|짝꿍|베프|절친|룸메)(?=\s)|"
           r"(?<![가-힣])(?:남친|여친|남편|아내|와이프|신랑|남자친구|여자친구|남동생|여동생|새언니|형부|매형|올케|처제|전남친|전여친|"
           r"막내|짝꿍|짝|동료|인턴|신입)(?:이|은|는|가)?(?=\s)|(?:우리|같은|옆)\s?(?:반|팀|학교|회사|과|부서|동아리)(?:에|의)?(?=\s)|옆자리(?=\s)|"
           # an office title right before a name: "점장 김경호", "담임 표정란 쌤"
           r"(?<![가-힣])(?:점장|팀장|과장|대리|부장|차장|사장|실장|주임|담임|반장|매니저|원장|대표|집사|권사|시어머니|시아버지|장모|장인)(?:님)?(?=\s)")
_OFFICE = (r"계장|대표|여사|집사|권사|장로|목사|전도사|점장|총무|상무|전무|감독|코치|약사|병장|상병|일병|이병|하사|중사|소위|중위|대위|"
           r"경위|경장|순경|기자|피디|셰프|조교|박사|상담사|트레이너|세무사|회계사|노무사|설계사")
_TITLES = (rf"{_OFFICE}|씨|님|선배|후배|과장|대리|팀장|부장|차장|사장|실장|주임|사원|교수|선생|쌤|샘|원장|국장|본부장|이사|담당|매니저|기사님|"
           r"작가님|형|오빠|언니|누나|이모|삼촌|고모|할머니|할아버지|선수님|변호사|의사|간호사|원장님|대표|회장|소장|반장|"
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
_PRIVATE_AFTER = re.compile(r"\s?(?:님|씨|선배|후배|과장|대리|팀장|부장|차장|실장|주임|사원|교수님|선생님|쌤|담당|매니저)")

_S2 = "|".join(SURNAMES_2)
_HANGUL_NAME = rf"(?:{_S2}|[{SURNAMES_1}])[가-힣]{{1,2}}"
_CONTEXT_BEFORE = re.compile(_BEFORE)
_NAME_AT = re.compile(r"\s{0,2}[:：]?\s{0,2}['\"‘’“”「『(]?(?P<v>[가-힣]{2,4}?)"
                            r"(?=이라고|라고|이라|이에요|예요|이야|이고|이구|인데|이는|이가|이랑|이한테|한테|은|는|가|야|님|씨|"
                            r"이세요|이셔|이시고|이십니다|이신|세요|셔|이(?![가-힣])|랑|하고|도|를|을|의|께|"
                            r"입니다|이래|래|로|으로|이에게|에게|이었|였|이였|임|$|[\s,.!?~:)'\"‘’“”」』])")
_BEFORE_TITLE = re.compile(rf"(?<![가-힣])(?P<v>[가-힣]{{2,4}})\s?(?:{_TITLES})(?:님)?(?:이|가|은|는|께서|한테|에게|이랑|랑|도|의|,|\s|$|[!?.~])")
# "박 대리", "김 과장님": a bare surname with a title names a person. "이 선배" also reads "this senior",
# so 이 counts only with the office titles; 온/간/갈 before a title are verb forms ("새로 온 과장님"), and 나/저 the
# speaker ("나 세무사 됐어").
_SURNAME_TITLE = re.compile(
    rf"(?<![가-힣])(?![온간갈나저]\s)(?P<v>{_S2}|[{SURNAMES_1}])\s(?:(?<=이\s)(?:과장|대리|팀장|부장|차장|실장|주임|교수|씨|계장|여사|집사|권사|장로|"
    r"목사|점장|상무|전무|원장|회장|관장|간사)|(?<!이\s)(?:선배|후배|과장|대리|팀장|부장|차장|실장|주임|사원|교수|선생|쌤|원장|사장|기사|국장|본부장|"
    rf"매니저|씨|도령|회장|관장|간사|진사|서방|생원|{_OFFICE}))(?:님)?"
    r"(?=[^가-힣]|$|이|가|은|는|도|한테|께|랑|의|에게|라고|라는|님|임|이었|였|래)")
# lookahead, so that "예약자 명 맹 현 주" gives both "명 맹 현" and "맹 현 주" (names.find_names picks one)
_SPACED = re.compile(rf"(?<![가-힣])(?=(?P<v>(?:{_S2}|[{SURNAMES_1}])\s[가-힣]\s[가-힣])(?![가-힣]))")
# Words that say a spaced-out name comes next ("예금주: 채 윤 서", "새 회장은 편 도 윤") or follow one ("하 만 복
# 어르신", "'은 서 율' 이라고"): with them, syllables that are also words (만, 서, 도) count as a given name.
_SPACED_CTX_BEFORE = re.compile(r"(?:(?:이름|성함|함자|존함|예금주|명의|입금자|회장|총무|팀장|선배|후배|친구|어르신|담당|예약자|"
                                r"받는\s?분|보내는\s?분|선생님|전도사|매니저|상주|장남|차남|장녀|차녀|스티커|명함|조카|보호자)"
                                r"(?:은|는|이|가|명|:|：)?\s?(?:명\s?)?[:：'\"‘“(]?\s?|(?:^|\s)['\"‘“])$")
_SPACED_CTX_AFTER = re.compile(r"['\"’”]?\s?(?:이라고|라고|이라는|라는|이시|어르신|님|씨|선생|입니다|이라|[,)]\s?(?:부|연락|전화|번호))"
                               r"|['\"’”]|\s(?:01[016789]|0\d{1,2}-|\d{1,3}만)")
_ROM_SURNAME = (r"Kim|Lee|Yi|Rhee|Park|Pak|Choi|Choe|Jung|Jeong|Chung|Kang|Cho|Jo|Yoon|Yun|Jang|Chang|Lim|Im|Han|Oh|Seo|Suh|"
                r"Shin|Sin|Kwon|Hwang|Ahn|An|Song|Ryu|Yoo|Yu|Hong|Jeon|Jun|Ko|Go|Moon|Mun|Son|Sohn|Yang|Bae|Baek|Paik|Heo|"
                r"Hur|Nam|Noh|Roh|Ha|Kwak|Sung|Cha|Joo|Ju|Woo|Min|Na|Jin|Ji|Um|Eom|Won|Chun|Namgung|Jegal|Seonwoo|Hwangbo")
_ROM_SYL = r"(?:[bcdghjkmnprstwy]{0,3}(?:yeo|ae|eo|eu|oe|ui|wa|wo|ya|yo|yu|ye|oo|ee|ou|a|e|i|o|u)(?:ng|n|m|k|l|p|t)?)"
_ROM_GIVEN = rf"{_ROM_SYL}(?:[- ]?{_ROM_SYL})"
_LATIN = re.compile(rf"(?<![A-Za-z])(?P<v>(?:{_ROM_SURNAME})[ ](?:{_ROM_GIVEN})|(?:{_ROM_GIVEN})[ ](?:{_ROM_SURNAME}))(?![A-Za-z])",
                    re.IGNORECASE)
_LATIN_CAPS = re.compile(r"^[A-Z][a-z]+[ ][A-Z]|^[A-Z]{2,}[ ][A-Z]{3,}$")  # "Kim Minsu", "HAN SOYEON" (as on a form)

_G = "[" + "".join(sorted(GIVEN)) + "]"
# Given-name syllables that rarely end a name but often end an ordinary word or are a particle
# ("오늘도", "주세요", "기분이", "최고의"): a surname-led word ending in one is no full name on shape alone.
GIVEN_LAST = GIVEN - frozenset("도요는을를의고면야다까니네게만께랑와과에로이해세시가")
_GL = "[" + "".join(sorted(GIVEN_LAST)) + "]"
_FOLLOW = r"(?=[^가-힣]|$|[이가은는을를의도와과랑한에께씨님아야인라로만까처보하입임네였])"
# A surname-led full name at the start of a word ("이정숙인데", "한지훈 과장님").
_FULL = re.compile(rf"(?<![가-힣0-9])(?P<v>(?:{_S2}){_G}?{_GL}|[{SURNAMES_1}]{_G}{_GL}){_FOLLOW}")
# A given name with a person particle ("수빈이가", "민준아", "지우한테").
_GIVEN_JOSA = re.compile(rf"(?<![가-힣0-9])(?P<v>{_G}{_GL})(?:이가|이랑|이한테|이는|이도|이를|이네|이야|이|아|야|한테|에게|이하고|이에게|가|는|랑|하고|이의|네|이네|이처럼)"
                         r"(?![가-힣])")
_CONTEXT_WORD = re.compile(_BEFORE + r"|선배|후배|과장|대리|팀장|부장|차장|실장|주임|교수|쌤|담당|매니저|(?<![가-힣0-9])" + _G + r"{1,3}\s?(?:씨|님)(?!앗)")
# A given name, a space, then a family title or a pointer word: "채원 언니가", "준서 걔".
_TITLE_AFTER = re.compile(rf"(?<![가-힣0-9])(?P<v>{_G}{_GL})(?:\s|이\s?(?=형|언니|오빠|누나))(?:언니|오빠|누나|형|선배|후배|선배님|쌤|걔|"
                          r"이모|삼촌|엄마|아빠|어머니|아버지|어머님|아버님|할머니|할아버지)"
                          r"(?=[^가-힣]|$|이|가|은|는|도|한테|랑|께|님|네)")
# A name right before a phone number ("송지아 010-3382-9174"), or before its owner's contact
# details ("지호 메일 …", "민지 번호 알아?").
_BEFORE_PHONE = re.compile(r"(?<![가-힣0-9])(?P<v>[가-힣]{2,4})\s{0,2}[:：/,]?\s{0,2}(?=(?:\+82|01[016789]|공일공|영일영)[\s\-.]?[0-9공영일이삼사오육륙칠팔구])")
_BEFORE_CONTACT = re.compile(r"(?<![가-힣0-9])(?P<v>[가-힣]{2,4})\s(?:메일|이메일|번호|폰번호|폰번|전번|연락처|카톡|인스타|계좌|주소)"
                             r"(?:야|이야|임|이에요|예요|이고|인데|는|은|가|이|를|을|도|좀)?(?![가-힣])")  # "민지 번호야"
# Names in a list, written next to a name found: "혜린 수진 미나랑", "이영순 박만석", "예준, 예서".
_LIST_NEXT = re.compile(r"(?:\s|,\s?|/\s?|·|(?:이랑|랑|하고|이하고|와|과|이나|나)\s)(?P<v>[가-힣]{2,4}?)(?=이랑|랑|하고|이하고|이야|야|이가|이는|이도|가|는|도|,|/|·|\s|$|[!?.~)])")
_LIST_PREV = re.compile(r"(?<![가-힣0-9])(?P<v>[가-힣]{2,4})(?:\s|,\s?|/\s?|·)$")
# A full name (not in the gazetteer) in a line about a drama, a film, a comic, ...: a character
# talked about as such ("오징어게임 성기훈 시즌2 봄?"), when nothing private is named in the line.
_MEDIA = re.compile(r"드라마|영화|시즌\s?\d|작품|캐릭터|주인공|등장인물|만화|웹툰|애니|소설|넷플|마지막\s?회|결말|명대사|배우|가수|OST|ost")
_PRIVATE_LINE = re.compile(r"(?<![가-힣])(?:우리|울|내|제|형)(?![가-힣])|친구|언니|오빠|누나|형이|형은|형한테|동생|엄마|아빠|남친|여친|남편|아내|회사|학교|선배|후배|"
                           r"번호|연락|주소|씨|님|쌤|[0-9]{3}")
# Western given name + romanised Korean surname, both capitalised: "Sarah Jung", "Kevin Yoon".
_WESTERN = re.compile(r"(?<![A-Za-z])(?P<v>(?!(?:The|This|That|And|For|With|Hello|Dear|Team|Central|Olympic|Jurassic|Hyde|Grand|Big|"
                      r"Little|New|Old|North|South|East|West|Mr|Ms|Mrs|Dr|Pokemon|Let|Mister)\s)[A-Z][a-z]{2,11}\s(?:Kim|Lee|Park|"
                      r"Choi|Jung|Jeong|Chung|Kang|Yoon|Jang|Chang|Lim|Seo|Suh|Shin|Kwon|Hwang|Ahn|Song|Ryu|Yoo|Hong|Jeon|Moon|"
                      r"Sohn|Yang|Baek|Heo|Kwak|Sung|Joo|Choo))(?![A-Za-z])(?=\s?(?:님|씨|이|가|는|은|라는|이라는|한테|랑|이랑|하고|에게|께|,|\.|$))")
_HAS_LATIN = re.compile(r"[A-Za-z]{2}")
# After these a full-name-shaped word is a person even where Kiwi splits it into ordinary words
# ("김순례님", "배숙자 여사님", "표정란 쌤"): friend/classmate words are weaker and left out.
_STRONG_TITLE = re.compile(rf"\s?(?:{_OFFICE}|씨|님|과장|대리|팀장|부장|차장|사장|실장|주임|교수|선생님|쌤|원장|국장|본부장|매니저|담당)")
_STRONG_BEFORE = re.compile(r"(?:이름|성함|존함|성명|본명|실명|예금주|수취인|명의|받는\s?(?:분|사람)|보내는\s?(?:분|사람)|담당|점장|팀장|과장|"
                            r"대리|부장|차장|사장|실장|주임|담임|반장|매니저|원장|대표|집사|권사|시어머니|시아버지)[가-힣]{0,2}\s{0,2}[:：]?\s{0,2}"
                            r"['\"‘’“”「『(]?$")

# ---- round 3: contexts that name a person even where the word is also a common word ------------
# "세종이라는 친구", "준호라는 이름": the word is introduced as a person's name.
# ("행복이란 사람마다 달라", "행복이라는 이름의 카페" are talk: no 이란, no 이름.)
_NAMED_AS = re.compile(r"(?<![가-힣])(?P<v>[가-힣]{2,4}?)(?:이라는|라는)\s?(?:친구|애|사람|분|남자|여자|남자애|여자애|형|"
                       r"언니|오빠|누나|동생|선배|후배|녀석|놈|아이|학생|직원|선생님|쌤|신입|인턴|대리|과장|팀장|부장|차장|사장|실장|주임|"
                       r"사원|교수|선수|손님|고객|기사)(?![가-힣]{0,2}마다)")
# After a name word (not a family word), a value followed by a copula is a name ("이름이 유리인데", "이름 소망이래").
_NAME_WORD_BEFORE = re.compile(r"(?:이름|성함|존함|본명|실명)(?:은|이|는|도)?\s{0,2}[:：]?\s{0,2}$")
_COPULA_AFTER = re.compile(r"(?:이었|였|이였|인데|이래|래|이야|야|이에요|예요|이라고|라고|이고|임|입니다|이라|이잖|이지|이네|이더라|"
                           r"이거든|이었음|였음)")
# Words that follow 이름이 but are talk about the name, not the name ("이름이 뭐야", "이름이 비밀이야").
_NAME_WORD_STOP = frozenset("뭐 뭔 뭐였 기억 비밀 특이 예쁘 이쁘 멋있 길어 어려 헷갈 생각 진짜 너무 완전 되게 좀 특이해 같 똑같 무슨 누구 "
                            "어떻게 어떻 이렇 그렇 저렇 왜 촌스럽 흔해 흔한 웃겨 웃김 독특 예뻐 이뻐".split())
# A noun right after a given name that says it is a person's: "은지 결혼식", "현수 땜에", "수아 유치원".
_POSS_AFTER = re.compile(rf"(?<![가-힣0-9])(?P<v>{_G}{_GL})\s(?:결혼식|생일|생파|장례식|돌잔치|집들이|졸업식|입학식|엄마|아빠|남친|여친|"
                         r"남편|아내|와이프|딸|아들|유치원|어린이집|땜에|때문에|얘기|말로는|덕분에|부탁|자취방|방|카톡|번호|폰|선물)(?![가-힣])")
# Kinship and office titles after which a common noun, not a name, is usual ("교회 오빠", "동네 언니").
_KIN_GUARD = frozenset("교회 성당 절 동네 옆집 이웃 과외 알바 헬스 동아리 학과 대학 군대 고향 친척 사촌 회사 학교 학원 반 팀 앞집 윗집 "
                       "아랫집 단골 소개팅 직장 부서 본부 지점 영업 인사 총무 경리 회계 기획 개발 홍보 담임 부담임 교감 교장 원장 "
                       "수학 국어 영어 과학 사회 역사 체육 음악 미술 피아노 수영 요가 태권도 필라 보컬 댄스 미용 간호 병원 약국 "
                       "친한 아는 옆반 막내 첫째 둘째 셋째 운동 축구 농구 야구 배구 골프 등산 여행 게임 공부 스터디 모임 "
                       "전공 입사 본사 지사 현장 가게 매장 식당 카페 동창 동기 시골 노래 방송 연기 "
                       # interjections before 씨 ("아오 씨 짜증나")
                       "아오 아우 에휴 에이 아이 어휴 우씨 으휴 아놔".split())
# "-씨" and "-님" words that are no name + honorific.
_SSI_WORDS = frozenset("날씨 솜씨 맘씨 마음씨 말씨 글씨 불씨 꽃씨 홀씨 아가씨 아저씨 아줌씨 맵씨 매무씨 볍씨 씨앗 "
                       "선생님 사장님 햇님 달님 별님 하느님 하나님 부처님 임금님 손님 고객님 회원님 님".split())
# A line saying the person is not the famous one ("배우 말고 우리 학교 정우성", "동명이인", "물론 그 수지 아님").
_NOT_THE_FAMOUS = re.compile(r"동명이인|(?:배우|가수|선수|연예인|장군|아이돌|축구선수|야구선수|유명인|셀럽|본인|진짜|그)\s?"
                             r"(?:말고|아니고|아님|아니라|아니야|아니에요|아닌)|(?<![가-힣])그\s[가-힣]{1,4}\s(?:아님|아니고|아니야|말고)|"
                             r"(?:배우|가수|선수|연예인|장군|아이돌|유명인)\s[가-힣]{2,4}\s?(?:말고|아니고|아님|아니라|아니야)|"
                             r"말고\s(?:우리|내|제|같은|옆)\s")
# A full name right after an account number, a phone number or a unit ("…1928440 이지훈으로", "1102호 이윤주 앞으로").
_AFTER_NUMBER = re.compile(r"(?:[0-9]{4}|[0-9]호)\s{1,2}(?P<v>[가-힣]{3,4}?)(?=으로|로|앞으로|님|씨|$|[\s,.!?)])")
# A full name right before an e-mail address ("김은비 eunbi.k@outlook.com").
_BEFORE_EMAIL = re.compile(r"(?<![가-힣])(?P<v>[가-힣]{3,4})\s{1,2}[:：]?\s{0,2}(?=[A-Za-z0-9._%+\-]{2,40}@)")
# A two-syllable surname, a space, a given name: "선우 은정님", "제갈 현우라는".
_SPACED_S2 = re.compile(r"(?<![가-힣])(?P<v>(?:남궁|제갈|선우|황보|독고|사공)\s[가-힣]{1,2})(?=\s?(?:님|씨|이라는|라는|이가|가|이랑|랑|는|은|이|"
                        r"한테|선배|후배|과장|대리|팀장)|[^가-힣]|$)")
# A romanised Korean given name alone with a Korean particle or title after it: "jiwoo랑", "Hyunwoo 형".
_LATIN_GIVEN = re.compile(rf"(?<![A-Za-z])(?P<v>{_ROM_SYL}{_ROM_SYL})(?:이랑|랑|이가|가|이한테|한테|이라고|라고|이는|는|\s?(?:형|오빠|"
                          r"언니|누나|씨|님|선배|쌤))(?![가-힣])", re.IGNORECASE)
# A name right before the word 이름: "독고준 이름 실화냐", "이순신이 내 짝꿍 이름임".
_NAME_BEFORE_WORD = re.compile(r"(?<![가-힣])(?P<v>[가-힣]{2,4}?)(?:이|가)?\s(?:(?:내|제|우리)\s?[가-힣]{0,3}\s)?이름(?:이|은|임|이야|인데|\s?실화)")
# Western given names as Koreans abroad and in firms take them (general knowledge), before a romanised surname.
_WESTERN_GIVEN = (r"James|John|Robert|Michael|David|William|Richard|Joseph|Thomas|Daniel|Paul|Mark|Steven|Andrew|Kevin|Brian|"
                  r"Eric|Jason|Justin|Ryan|Peter|Chris|Christopher|Sam|Samuel|Tony|Alex|Sean|Brandon|Jacob|Ethan|Noah|Lucas|"
                  r"Henry|Jay|Jake|Max|Leo|Ben|Mary|Jennifer|Jenny|Linda|Elizabeth|Susan|Jessica|Sarah|Sara|Karen|Lisa|Nancy|"
                  r"Emily|Emma|Olivia|Sophia|Sophie|Grace|Hannah|Rachel|Amy|Angela|Michelle|Stella|Lucy|Julia|Julie|Irene|"
                  r"Jane|Anna|Annie|Kate|Katie|Chloe|Ella|Bella|Amber|Crystal|Tiffany|Jessie|Joy|Wendy|Yuna|Monica|Esther|Ruth")
_WESTERN_NAME = re.compile(rf"(?<![A-Za-z])(?P<v>(?:{_WESTERN_GIVEN})\s(?:{_ROM_SURNAME}))(?![A-Za-z])")
# "하늘이 오빠가 군대 갔어": a given name, the friendly 이 and a kinship title, opening a sentence.
_KIN_OPENING = re.compile(r"(?:^|(?<=[.!?~ㅋㅎㅠ]\s))(?P<v>[가-힣][각-힣])이\s?(?:오빠|언니|누나|형)(?:가|이|는|은|한테|랑|네|도)?(?![가-힣])")
# A surname with 씨 written together: "김씨 아저씨", "박씨네" (피씨 is a PC, so 피 is left out here).
# "박팀장 진짜 싫어", "(편총무)", "윤실장": a surname written onto an office title. Not 이/부/전/공/노/소/원/여/남,
# which start words with those titles ("이사장", "부장", "전부장" = former, "여선생님" = a woman teacher), nor the titles that end common words once a
# syllable is put before them (주차장, 위원장, 연회장, 공사장, 방송국장).
_JOINED_SURNAMES = "".join(c for c in SURNAMES_1 if c not in "이부전공노소원여남")
_SURNAME_TITLE_JOINED = re.compile(
    rf"(?<![가-힣A-Za-z])(?P<v>[{_JOINED_SURNAMES}])(?:팀장|과장|대리|부장|실장|주임|총무|기사님|교수님|집사님|권사님|"
    r"매니저|트레이너|세무사|상담사|선생님|쌤)(?:님)?(?=[^가-힣]|$|이|가|은|는|한테|께|께서|이랑|랑|도|의|에게|진짜|님)")
_SURNAME_SSI = re.compile(rf"(?<![가-힣A-Za-z])(?P<v>[{SURNAMES_1.replace('피', '')}])씨(?=[^가-힣]|$|\s|가|는|네|한테|랑|도|의|가게|집|아저씨|아줌마)")
