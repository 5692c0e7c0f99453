"""Latin-script person names: "Kenji Watanabe", "Maria Gonzalez", "HANAKO SUZUKI".

A pair (or triple) of capitalised words is a name when at least one word is a
listed given name or surname and no word is a common capitalised non-name
("Tokyo", "Monday", "Support", "Inc"). Curated lists ship with the code (no
downloads); they favour names seen in Japanese business mail: Japanese
romaji given names and surnames, common English/European, Spanish, Korean and
Chinese names. Pure and cheap: only runs when the text has a capital letter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["GIVEN_NAMES", "SURNAMES", "find_latin_names"]


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


GIVEN_NAMES = _words(
    # Japanese
    "akira akiko aoi asuka atsushi ayaka ayako ayumi chiaki chihiro daichi daiki daisuke eiji emi emiko eri "
    "fumiko fumio goro hana hanako haruka haruki haruto hayato hideaki hideki hiroki hiroko hiromi hiroshi "
    "hiroto hiroyuki hisashi hitomi ichiro isamu jiro jun junichi junko kaede kana kaori kaoru katsuya kazuki "
    "kazuko kazuo kazuya keiko keisuke ken kenichi kenji kenta kento kiyoshi koichi koji kota kotaro kumiko "
    "kyoko mai maiko makoto mami mamoru mana manabu mao mari mariko masahiro masaki masako masao masaru "
    "masashi masato masayuki mayu megumi midori mika miki minako minoru misaki mitsuru miyuki momoko naoki "
    "naoko naomi natsuki natsumi nobuo nobuyuki noriko osamu rei reiko rie riku rin rina ryo ryota ryuji "
    "ryunosuke sachiko saki sakura satoru satoshi sayaka seiji shigeru shin shinji shinya sho shota shun "
    "shunsuke sora sota susumu takashi takeshi takumi takuya taro tatsuya tetsuya tomoko tomoya toru "
    "toshiaki toshiko toshio tsubasa tsuyoshi wataru yasuko yasushi yoko yoshiko yoshio yu yuka yuki yukiko "
    "yuko yuma yumi yuna yusuke yuta yutaka yuto yuya yui yuri yuriko yuichi yuji yukio "
    # English / European
    "aaron adam adrian alan albert alex alexander alice alicia amanda amy andrea andrew angela anna anne "
    "anthony antonio arthur barbara ben benjamin beth brian bruce carl carlos carol caroline catherine "
    "charles charlotte chris christina christine christopher claire daniel david deborah dennis diana "
    "diego donald dorothy edward elena elizabeth emily emma eric erik eva frank gary george grace hannah "
    "harry helen henry isabella jack jacob james jane janet jason jean jeffrey jennifer jessica joan john "
    "jonathan jose joseph joshua juan julia julie karen kate katherine kathleen kelly kevin laura lauren "
    "linda lisa lucas lucy luis luke marco margaret maria marie mark martin mary matthew melissa michael "
    "michelle nancy nathan nicholas nicole oliver olivia patricia patrick paul peter rachel rebecca richard "
    "robert ryan sam samuel sandra sara sarah scott sean sophia sophie stephen steven susan thomas timothy "
    "tom victoria william mohammed muhammad ahmed ali fatima hans klaus pierre francois giulia luca matteo "
    "sofia javier miguel pablo carmen lucia ana "
    # Korean / Chinese (given, romanised)
    "minjun seojun jiwoo jihoo seoyeon jiwon minji jisoo hyun sungmin wei ming li lei jing yan hui xin"
)

SURNAMES = _words(
    # Japanese
    "abe aoki arai fujii fujita fujiwara fukuda goto hara harada hashimoto hayashi higuchi hirano hirata "
    "hoshino ikeda imai inoue ishii ishikawa ito iwasaki kato kawaguchi kawakami kikuchi kimura kobayashi "
    "kojima kondo kubo kudo kuroda maeda maruyama masuda matsuda matsui matsumoto matsuo miura miyamoto "
    "miyazaki mori murakami murata nagai nakagawa nakajima nakamura nakano nakayama nishimura nishida noguchi "
    "nomura ogawa okada okamoto ono otsuka saito sakai sakamoto sasaki sato shibata shimada shimizu "
    "sugiyama sugawara suzuki takada takagi takahashi takeda takeuchi tamura tanaka taniguchi ueda uchida "
    "ueno wada watanabe yamada yamaguchi yamamoto yamashita yamazaki yano yokoyama yoshida yoshikawa "
    "yoshimura kaneko endo ota aoyama morita sakurai koizumi nishikawa oshima kitamura kawasaki "
    "honda toyota yamaha "
    # English / European / Hispanic
    "smith johnson williams brown jones miller davis wilson anderson taylor thomas moore jackson martin "
    "white harris thompson clark lewis robinson walker young allen king wright scott green baker adams "
    "nelson hill campbell mitchell roberts carter phillips evans turner parker collins edwards stewart "
    "morris murphy cook rogers morgan cooper peterson bailey reed kelly howard cox ward richardson watson "
    "brooks wood james bennett gray hughes price sanders myers long ross foster garcia martinez rodriguez "
    "hernandez lopez gonzalez perez sanchez ramirez torres flores rivera gomez diaz reyes morales ortiz "
    "cruz gutierrez ruiz alvarez romero fernandez muller schmidt schneider fischer weber meyer wagner "
    "becker schulz hoffmann dubois durand bernard moreau rossi russo ferrari esposito bianchi romano "
    "silva santos oliveira costa pereira nguyen tran le pham patel singh kumar sharma khan "
    # Korean / Chinese
    "kim lee park choi jung kang cho yoon jang lim wang zhang liu chen yang huang zhao wu zhou xu sun ma "
    "zhu hu guo he lin"
)

# Capitalised words that look like names but are not (in pairs with a name).
_STOP = _words(
    "the a an and or of for to in on at by with from this that these those dear hi hello hey thanks thank "
    "best regards sincerely kind warm yours cheers mr mrs ms miss dr prof sir madam team group inc ltd llc "
    "co corp corporation company bank university college school hospital clinic hotel station city street "
    "road avenue building tower center centre office department division support service services sales "
    "marketing project meeting report data cloud server system systems network product products account "
    "customer client manager director president ceo cto cfo engineer monday tuesday wednesday thursday "
    "friday saturday sunday january february march april may june july august september october november "
    "december tokyo osaka kyoto japan japanese english chinese korean america american new york london "
    "paris motor motors electric industries holdings global international limited partners capital "
    "securities insurance airlines air park hall plaza garden gardens house home news times post journal "
    "street st ave rd blvd north south east west central please note subject re fw fwd dept div "
    "version release update api key id no number total invoice order ticket issue bug test"
)

_WORD = r"(?:[A-Z][a-z]+(?:-[A-Z][a-z]+)?|[A-Z]{2,}(?![a-z]))"
# Runs of capitalised words on one line; an initial ("John F. Kennedy") may sit inside.
_RUN = re.compile(rf"(?<![A-Za-z0-9@.])(?:{_WORD}|[A-Z]\.)(?: (?:{_WORD}|[A-Z]\.)){{1,4}}(?![A-Za-z0-9@])")
_PIECE = re.compile(r"[A-Za-z.\-]+")
_COMPANY_NEXT = re.compile(
    r" (?:Inc|Ltd|LLC|Co|Corp|Corporation|Company|Group|Bank|Motor|Motors|Holdings|Hotel|University)\b"
)
# "Hi John," / "Hello Maria": one listed given name after a greeting.
_GREETING = re.compile(r"\b(?:Hi|Hello|Hey|Dear|Thanks|Thank you),? (?P<g>[A-Z][a-z]+)\b(?! [A-Z])")


def _key(word: str) -> str:
    return word.lower().replace("-", "")


def _pair_score(a: str, b: str) -> float:
    ka, kb = _key(a), _key(b)
    if ka in _STOP or kb in _STOP or len(ka) < 2 or len(kb) < 2:
        return 0.0
    if (ka in GIVEN_NAMES and kb in SURNAMES) or (ka in SURNAMES and kb in GIVEN_NAMES):
        return 0.9
    if ka in GIVEN_NAMES or kb in SURNAMES:
        return 0.8
    return 0.0


def find_latin_names(text: str) -> Iterator[tuple[int, int, float]]:
    """(start, end, score) of Latin-script names in ``text``."""
    for m in _RUN.finditer(text):
        words = [(p.start(), p.end(), p.group()) for p in _PIECE.finditer(m.group())]
        base = m.start()
        i = 0
        while i + 1 < len(words):
            a, b = words[i], words[i + 1]
            end_i = i + 1
            if b[2].endswith(".") and len(b[2]) == 2 and i + 2 < len(words):
                end_i, b = i + 2, words[i + 2]  # middle initial
            score = _pair_score(a[2], b[2]) if not a[2].endswith(".") else 0.0
            if score > 0 and _COMPANY_NEXT.match(text, base + b[1]) is None:
                yield (base + a[0], base + b[1], score)
                i = end_i + 1
            else:
                i += 1
    for m in _GREETING.finditer(text):
        if _key(m.group("g")) in GIVEN_NAMES:
            yield (m.start("g"), m.end("g"), 0.75)
