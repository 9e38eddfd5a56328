"""PUBLIC_FIGURES_KO: the gazetteer of names that stay when talked about as public figures.

Hand-curated for this module (no network at build time, no licensed list): people any Korean reader
knows from school, news and entertainment, the way Korean Wikipedia's lists group them: monarchs and
historical figures, independence activists, presidents, national sports figures, actors, singers
and writers who are household names; plus the heroes of classic novels and folk tales. A name here
is kept only when no private-relation context surrounds it ("손흥민 골 봤어?" keeps the name,
"손흥민 선배가 그러던데" masks it): see names.py. Add to it in params (clean.pii_public_names) rather
than here when a deployment needs more.
"""

HISTORICAL = """
단군 주몽 온조 박혁거세 김수로 광개토대왕 광개토왕 장수왕 근초고왕 을지문덕 연개소문 계백 김유신 김춘추 선덕여왕 진흥왕
문무왕 원효 의상 혜초 장보고 최치원 왕건 견훤 궁예 서희 강감찬 윤관 김부식 일연 정몽주 최영 이성계 정도전 이방원 태조
정종 태종 세종 세종대왕 문종 단종 세조 성종 연산군 중종 인종 명종 선조 광해군 인조 효종 현종 숙종 경종 영조 정조 순조
헌종 철종 고종 순종 황희 맹사성 장영실 신숙주 성삼문 박팽년 김종서 한명회 조광조 이황 이이 율곡 퇴계 신사임당 허균 허준
이순신 권율 곽재우 유성룡 류성룡 김시민 논개 사명대사 서산대사 송시열 정약용 다산 박지원 박제가 김정희 추사 김홍도 신윤복
정선 김정호 홍대용 최제우 전봉준 흥선대원군 명성황후 김옥균 안중근 윤봉길 유관순 김구 안창호 이봉창 김좌진 홍범도 신채호
한용운 이육사 윤동주 김소월 이상 방정환 주시경 나운규 이중섭 박수근 김활란 여운형 이승만 장면 박정희 최규하 전두환 노태우
김영삼 김대중 노무현 이명박 박근혜 문재인 윤석열 이재명 반기문 김수환 법정 성철 황진이 허난설헌 김만덕
"""
SPORTS = """
손흥민 박지성 차범근 이영표 안정환 홍명보 기성용 이강인 김민재 황희찬 황의조 조규성 이승우 김연아 박태환 황영조 손기정
이봉주 박찬호 류현진 추신수 이승엽 선동열 이대호 오타니 메시 호날두 박세리 박인비 고진영 최경주 김연경 안산 황선우 우상혁
장미란 이상화 최민정 김동성 진종오 양학선 이용대 안세영 신유빈 정현 권순우 허재 서장훈 김병현 박항서 히딩크 벤투
"""
ENTERTAINMENT = """
정우성 이정재 송강호 최민식 이병헌 전도연 김혜수 황정민 하정우 마동석 공유 현빈 손예진 송혜교 송중기 김수현 전지현 이민호
박서준 박보검 박보영 아이유 이지은 김태희 비 싸이 보아 이효리 엄정화 서태지 조용필 이선희 나훈아 남진 이미자 심수봉 김건모
신승훈 임영웅 이찬원 영탁 김호중 장윤정 홍진영 송가인 유재석 강호동 신동엽 이경규 김구라 박명수 정준하 하하 노홍철 전현무
김종국 이광수 송지효 지석진 양세형 조세호 박나래 이영자 김숙 윤여정 김윤석 류승룡 조인성 소지섭 원빈 장동건 고소영 한가인
김고은 수지 배수지 윤아 태연 제니 지수 로제 리사 RM 진 슈가 제이홉 지민 뷔 정국 지드래곤 태양 대성 탑 강다니엘 차은우
박찬욱 봉준호 김기덕 홍상수 이창동 나영석 김태호 백종원 이순재 신구 나문희 김혜자 고두심 최불암 안성기 한석규 설경구
"""
WRITERS = """
박경리 조정래 황석영 한강 신경숙 공지영 김영하 은희경 이문열 박완서 김훈 정유정 김애란 천명관 황순원 김유정 이효석 현진건
염상섭 채만식 이광수 최인훈 박목월 서정주 김춘수 고은 조지훈 정지용 백석 김수영 천상병 도종환 안도현 나태주
"""
FICTIONAL = """
홍길동 춘향 성춘향 이몽룡 변학도 방자 향단 심청 심학규 흥부 놀부 콩쥐 팥쥐 장화 홍련 전우치 임꺽정 장길산 허생 옹고집 박씨부인
토끼 별주부 둘리 고길동 희동이 도우너 또치 마이콜 뽀로로 크롱 루피 패티 에디 포비 해리 헤르미온느 론 셜록 홈즈 왓슨 코난
짱구 도라에몽 진구 피카츄 지우 이슬이 웅이 호빵맨 손오공 저팔계 사오정 삼장법사 제페토 피노키오 신데렐라 백설공주 엘사 안나
"""
# More actors, singers, entertainers, athletes and writers of the 2010s-2020s (round 3 of issue 17).
MORE = """
김지원 박은빈 송강 한소희 김태리 남주혁 이도현 변우석 김혜윤 고윤정 박민영 조정석 유연석 정경호 신민아 김우빈 이종석 이승기 윤계상
박해일 유아인 류준열 이제훈 손석구 최우식 박소담 정유미 공효진 김남길 강하늘 이준기 유승호 서인국 여진구 김래원 지창욱 차승원
유해진 오정세 진선규 이성민 김희애 김서형 라미란 염정아 전종서 정해인 임시완 신세경 문근영 김유정 주지훈 송승헌 권상우 소지섭
김광석 김현식 신해철 이문세 윤종신 성시경 박효신 김범수 이적 김동률 유희열 장범준 박재범 지코
도경수 장원영 안유진 카리나 이수근 서경석 탁재훈 김희철 차태현 김종민 딘딘 문세윤 김준현 기안84 침착맨
이말년 주호민 유병재 장도연 이상순 김하성 이정후 김광현 양현종 오승환 박주영 구자철 이천수 설기현 지소연 이상혁 페이커 김초엽
정세랑 손원평 이연복 최현석 안성재
"""
PUBLIC_FIGURES_KO = frozenset((HISTORICAL + SPORTS + ENTERTAINMENT + WRITERS + FICTIONAL + MORE).split())

# The same kind of figures as the international press spells them (surname first or last, hyphen or not);
# compared lower-cased with spaces and hyphens removed: "Son Heung-min", "Heungmin Son". Then Western public and
# fictional figures whose given names the Latin-name rule (name_latin.py) would otherwise mask.
_LATIN = """
Son Heung-min|Park Ji-sung|Cha Bum-kun|Lee Kang-in|Kim Min-jae|Hwang Hee-chan|Hwang In-beom|Ki Sung-yueng|Kim Yuna|Kim Yu-na|
Park Tae-hwan|Ryu Hyun-jin|Park Chan-ho|Choo Shin-soo|Lee Seung-yuop|Kim Ha-seong|Lee Jung-hoo|Kim Yeon-koung|Park Se-ri|
Park In-bee|Ko Jin-young|An Se-young|Hwang Sun-woo|Lee Sang-hyeok|Bong Joon-ho|Park Chan-wook|Song Kang-ho|Lee Jung-jae|
Lee Byung-hun|Jun Ji-hyun|Bae Doona|Youn Yuh-jung|Ma Dong-seok|Gong Yoo|Hyun Bin|Son Ye-jin|Song Hye-kyo|Song Joong-ki|
Park Seo-joon|Lee Min-ho|Kim Soo-hyun|Han Kang|Ban Ki-moon|Moon Jae-in|Yoon Suk-yeol|Lee Jae-myung|Park Geun-hye|
Kim Dae-jung|Roh Moo-hyun|Lee Myung-bak|Syngman Rhee|Park Chung-hee|Kim Jong-un|Kim Jong-il|Kim Il-sung|Lee Soon-shin|
Yi Sun-sin|Kim Koo|Ahn Jung-geun|Yu Gwan-sun|Kim Tae-hyung|Jeon Jung-kook|Park Ji-min|Kim Nam-joon|Min Yoon-gi|Jung Ho-seok|
Kim Seok-jin|Kim Ji-soo|Jennie Kim|Lalisa Manoban|Roseanne Park|Lee Ji-eun|Kwon Ji-yong|Cha Eun-woo|Kang Daniel|
Taylor Swift|Harry Potter|Hermione Granger|Tom Cruise|Tom Holland|Tom Hanks|Elon Musk|Steve Jobs|Bill Gates|
Michael Jackson|Justin Bieber|Ariana Grande|Billie Eilish|Olivia Rodrigo|Lionel Messi|Cristiano Ronaldo|Sherlock Holmes|
Mickey Mouse|Donald Trump|Joe Biden|Barack Obama|Leonardo DiCaprio|Emma Watson|Emma Stone|Daniel Radcliffe|
Albert Einstein|Isaac Newton|William Shakespeare|Walt Disney|Mark Zuckerberg|Bruno Mars|Ed Sheeran|Lady Gaga|
Jennifer Lawrence|Scarlett Johansson|Robert Downey|Chris Evans|Tony Stark|Peter Parker|Bruce Wayne|Elsa
"""
PUBLIC_FIGURES_LATIN = frozenset(
    form for name in _LATIN.replace("\n", "").split("|") if name.strip()
    for form in (name.strip(), " ".join(reversed(name.strip().split(" ", 1))))
    for form in [form.lower().replace("-", "").replace(" ", "")])

# Titles of widely known dramas, films, webtoons, anime and games (general knowledge, not a licensed
# list), comma-separated: a name in a line that names one of these is a character talked about as
# such unless a private relation is named right before it (names.py).
MEDIA_TITLES = tuple(t.strip() for t in """
오징어게임, 오징어 게임, 더글로리, 더 글로리, 재벌집 막내아들, 슬기로운 의사생활, 슬의생, 눈물의 여왕, 응답하라, 응팔, 도깨비,
태양의 후예, 사랑의 불시착, 이상한 변호사, 우영우, 킹덤, 스위트홈, 지금 우리 학교는, 마스크걸, 무빙, 시그널, 미생, 이태원 클라쓰,
이태원클라쓰, 동백꽃 필 무렵, 나의 아저씨, 호텔 델루나, 별에서 온 그대, 별그대, 상속자들, 펜트하우스, 스카이캐슬, 부부의 세계,
선재 업고 튀어, 선업튀, 낭만닥터, 하이킥, 꽃보다 남자, 대장금, 해를 품은 달, 해품달, 구르미 그린 달빛, 옷소매 붉은 끝동, 기생충,
부산행, 범죄도시, 극한직업, 신과함께, 올드보이, 택시운전사, 베테랑, 명량, 국제시장, 헤어질 결심, 서울의 봄, 파묘, 타짜, 살인의 추억,
나 혼자만 레벨업, 나혼렙, 신의 탑, 외모지상주의, 여신강림, 치즈인더트랩, 치인트, 유미의 세포들, 전지적 독자 시점, 전독시, 슬램덩크,
원피스, 나루토, 귀멸의 칼날, 진격의 거인, 주술회전, 명탐정 코난, 짱구는 못말려, 짱구, 도라에몽, 포켓몬, 드래곤볼, 하이큐,
스파이 패밀리, 체인소맨, 원펀맨, 헌터헌터, 이누야샤, 세일러문, 아기공룡 둘리, 뽀로로, 검정고무신, 안녕 자두야, 해리포터,
반지의 제왕, 어벤져스, 톰과 제리, 스폰지밥, 미키마우스, 겨울왕국, 토이스토리, 심슨, 원신, 리그오브레전드, 오버워치, 메이플스토리
""".replace("\n", " ").split(",") if t.strip())
