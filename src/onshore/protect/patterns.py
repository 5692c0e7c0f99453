"""Precompiled regular expressions. They run on NFKC-normalised text only.

Compiled once at import; the detector never compiles per call. Digit
boundaries use explicit lookarounds because ``\\b`` does not separate kana
from digits in Japanese text without spaces.
"""

from __future__ import annotations

import re

__all__ = [
    "ADDRESS",
    "ADDRESS_HINT",
    "ADDRESS_START",
    "BANK_CONTEXT",
    "CONTEXT",
    "DASH",
    "DOB",
    "DOB_ANCHOR",
    "EMAIL",
    "HEALTH",
    "INSURED",
    "INSURED_CONTEXT",
    "INSURED_PAIR",
    "IPV4",
    "IPV6_CANDIDATE",
    "KYOTO_HINT",
    "LATIN_NAME",
    "NOT_PHONE_CONTEXT",
    "NUMBER_TOKEN",
    "PASSPORT",
    "PASSPORT_ANCHOR",
    "ROMAN_ADDRESS",
    "ROMAN_ADDRESS_END",
    "SCALED_ASSET",
    "SPECIAL_CARE",
    "VERSION_CONTEXT",
]

# Dash-like characters that survive NFKC (full-width and small forms don't).
DASH = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\u2500\u2501"
_SEP = f"[ {DASH}()]"

# A run of digit groups joined by at most two separators ("03-1234-5678",
# "(03)1234-5678", "+81 90 1234 5678", "1234 5678 9012 3456").
# No leading lookbehinds on the hot patterns: they disable re's first-char
# scan and cost 3-5x; the detector checks the preceding character instead.
NUMBER_TOKEN = re.compile(rf"[+(0-9][0-9]*(?:(?:{_SEP}{{1,2}}| [{DASH}] )[0-9]+)*(?![0-9])")

EMAIL = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}"
    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}"
    r"(?![A-Za-z0-9\-])"
)

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}(?![0-9]|\.[0-9])")
# Candidates only; ipaddress.IPv6Address decides.
IPV6_CANDIDATE = re.compile(
    r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}|:)(?::[0-9A-Fa-f]{0,4}){2,7}"
    r"(?![0-9A-Fa-f:])"
)

PASSPORT = re.compile(r"[A-Z]{2} ?[0-9]{7}(?![0-9])")

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?"
    r"|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_D = f"[/.{DASH}]"
_ERA_PAREN = r"(?:\((?:令和|平成|昭和|大正|[RHST])\s?(?:[0-9]{1,2}|元)\s?年?\))"
DOB = re.compile(
    "|".join(
        [
            # 1990年1月2日 / 1990/01/02 / 1990-01-02 / 1996(平成8)年3月12日 / 1975年(昭和50年)8月30日
            rf"(?<![0-9])(?P<y1>(?:19|20)[0-9]{{2}})\s?(?:{_ERA_PAREN}?\s?年\s?{_ERA_PAREN}?\s?(?P<m1>[0-9]{{1,2}})\s?月"
            rf"\s?(?P<d1>[0-9]{{1,2}})\s?日|{_D}(?P<m2>[0-9]{{1,2}}){_D}(?P<d2>[0-9]{{1,2}}))"
            r"(?![0-9])",
            # 平成2年3月4日 / 令和元年5月1日
            r"(?:令和|平成|昭和|大正)\s?(?:[0-9]{1,2}|元)\s?年\s?(?P<m3>[0-9]{1,2})\s?月"
            r"\s?(?P<d3>[0-9]{1,2})\s?日",
            # H2.3.4 / S63/12/1
            rf"(?<![A-Za-z0-9])[RHSTrhst]\.?\s?[0-9]{{1,2}}{_D}(?P<m4>[0-9]{{1,2}}){_D}"
            r"(?P<d4>[0-9]{1,2})(?![0-9])",
            # March 4, 1990 / 4 March 1990 / 04/03/1990
            rf"\b{_MONTHS}\.?\s[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s(?:19|20)[0-9]{{2}}(?![0-9])",
            rf"(?<![0-9])[0-9]{{1,2}}(?:st|nd|rd|th)?\s(?:of\s)?{_MONTHS}\.?,?\s(?:19|20)[0-9]{{2}}(?![0-9])",
            # 15-Jul-1983 / 15 Jul 1983 / 15/Jul/1983
            rf"(?<![0-9])[0-9]{{1,2}}[{DASH}/ ]{_MONTHS}[{DASH}/ ](?:19|20)[0-9]{{2}}(?![0-9])",
            r"(?<![0-9/])[0-9]{1,2}/[0-9]{1,2}/(?:19|20)[0-9]{2}(?![0-9])",
        ]
    )
)

_PREFS = (
    "北海道|東京都|京都府|大阪府|青森県|岩手県|宮城県|秋田県|山形県|福島県|茨城県|"
    "栃木県|群馬県|埼玉県|千葉県|神奈川県|新潟県|富山県|石川県|福井県|山梨県|長野県|"
    "岐阜県|静岡県|愛知県|三重県|滋賀県|兵庫県|奈良県|和歌山県|鳥取県|島根県|岡山県|"
    "広島県|山口県|徳島県|香川県|愛媛県|高知県|福岡県|佐賀県|長崎県|熊本県|大分県|"
    "宮崎県|鹿児島県|沖縄県"
)
# Big cities and Tokyo wards often start an address without the prefecture.
_CITIES = (
    "札幌市|仙台市|さいたま市|千葉市|横浜市|川崎市|相模原市|新潟市|静岡市|浜松市|"
    "名古屋市|京都市|大阪市|堺市|神戸市|岡山市|広島市|北九州市|福岡市|熊本市|"
    "千代田区|中央区|港区|新宿区|文京区|台東区|墨田区|江東区|品川区|目黒区|大田区|"
    "世田谷区|渋谷区|中野区|杉並区|豊島区|北区|荒川区|板橋区|練馬区|足立区|葛飾区|"
    "江戸川区"
)
# --- Japanese-script addresses ---------------------------------------------
# HEAD (prefecture + municipality, designated city / Tokyo ward, or any
# "○○市" / "○○郡" not glued to a longer word), TOWN (大字/字/町名, Hokkaido
# "北1条西"), then BLOCK (丁目/番地/号/1-2-3 or a bare number) or a Kyoto
# street ("河原町通三条上る下丸屋町390"), then an optional BUILDING and room.
# A municipality without a block ("東京都千代田区") is not an address.
_KANJI = "[一-龥々〆ヶ]"
_WORD_BEFORE = "(?<![一-龥々〆ヶァ-ヺー])"  # a head must not be the tail of a longer word
# Particles never occur in municipality or town names ("東京都の人口", "大阪市北区で3件").
_MNAME = "(?:(?![のにはをへで])[一-龥ぁ-ゖァ-ヺー々〆ヶ])"
_TNAME = "(?:(?![にはをへで])[一-龥ぁ-ゖァ-ヺー々〆ヶ]|[0-9]{1,2}条)"
_HEAD = (
    rf"(?:(?:{_PREFS}) ?{_MNAME}{{1,8}}?[市区町村郡]"
    rf"|{_WORD_BEFORE}(?:(?:{_CITIES})|{_KANJI}{{1,4}}?[市郡]))"
    # "千代田区役所", "松本市長", "横浜市立大学", "卸売市場": an office or word, not a place.
    r"(?!役所|役場|長(?![町者])|民|議|立(?![川石野])|営|場)"
)
_AN = "[0-9]{1,5}"
_KN = "[一二三四五六七八九十〇]{1,4}"
_N = f"(?:{_AN}|{_KN})"
_HY = f"[{DASH}]"
_CHAIN = rf"{_N}(?:(?:(?:番地の?|番) ?|{_HY}|の){_N}){{0,3}}(?:号室|号|番地|番)?"
_BLOCK = rf"(?:{_N}丁目(?: ?{_CHAIN})?|{_CHAIN})"
_DIRECTION = "(?:[上下][るル]|[東西]入[るル]?)"
_KYOTO = (
    rf"(?:(?![にはをへで])[一-龥ぁ-ゖァ-ヺー々ヶ]){{1,10}}通{_KANJI}{{1,8}}?{_DIRECTION}"
    rf"(?:{_TNAME}{{0,12}}? ?{_BLOCK}|{_KANJI}{{1,8}}町)?"
)
_BUILDING_SUFFIX = (
    "ビルディング|ビル|マンション|ハイツ|ハイム|タワー|レジデンス|コーポ|アパート|ハウス|"
    "プラザ|センター|ヒルズ|コート|パレス|メゾン|ヴィラ|ガーデン|テラス|スクエア|カーサ|"
    "パーク|シティ|フォレスト|ビレッジ|ヴィレッジ|荘|会館|館|棟|寮|団地|住宅|"
    "Bldg\\.?|Building|Tower|BLDG"
)
_BCH = "[一-龥々〆ヶァ-ヺーA-Za-zの・&]"
_ROOM = r"(?:[A-Z]?[0-9]{1,4}(?:号室|号|階|F|f)|B[0-9]{1,2}F?|[A-Z]?[0-9]{2,4})(?: ?[0-9]{1,4}号室)?"
_ROOM_STRICT = r"[0-9]{1,4}(?:号室|階|F)"
_BUILDING = (
    r" ?(?!株式会社|有限会社|合同会社|\(株\))"
    rf"(?:(?:{_BCH}|第[0-9]{{1,2}}){{0,20}}?(?:{_BUILDING_SUFFIX}){_BCH}{{0,10}}?(?: ?{_ROOM})?"
    rf"|{_BCH}{{0,12}}?{_ROOM_STRICT})"
)
# The address ends here: no counter ("1-2月", "2階", "3件"), digit, dash, word or decimal follows.
_END = rf"(?![0-9一-龥々〆ヶァ-ヺーA-Za-z%{DASH}]|[.,]?[0-9])"
# Alternatives start with a digit where possible: re's first-char scan keeps it fast.
# Villages (荻町1086) and Kyoto streets (…下丸屋町390) may end in a bare number.
ADDRESS_HINT = re.compile(rf"[0-9](?:丁目|番|{_HY}[0-9]|(?<=[一-龥々][0-9]))|[一二三四五六七八九十]丁目")
# Searched only when "通" occurs: a Kyoto street address without a number ("烏丸通四条下ル").
KYOTO_HINT = re.compile(rf"通{_KANJI}{{1,8}}?{_DIRECTION}")
ADDRESS = re.compile(
    rf"{_HEAD} ?(?:{_TNAME}{{0,30}}?(?<!の) ?{_BLOCK}|{_TNAME}{{0,12}}?{_KYOTO})(?:{_BUILDING})?{_END}"
)

# --- Romanised addresses ("3-5-12 Minami-Aoyama, Minato-ku, Tokyo") ---------
_RL = "[a-zāīūēōâîûêô]"
_RW = f"[A-ZĀŌŪ]{_RL}+"
_RPREFS = (
    "Hokkaid[oō]|Aomori|Iwate|Miyagi|Akita|Yamagata|Fukushima|Ibaraki|Tochigi|Gunma|Saitama|"
    "Chiba|T[oō]ky[oō]|Kanagawa|Niigata|Toyama|Ishikawa|Fukui|Yamanashi|Nagano|Gifu|Shizuoka|"
    "Aichi|Mie|Shiga|Ky[oō]to|[OŌ]saka|Hy[oō]go|Nara|Wakayama|Tottori|Shimane|Okayama|"
    "Hiroshima|Yamaguchi|Tokushima|Kagawa|Ehime|K[oō]chi|Fukuoka|Saga|Nagasaki|Kumamoto|"
    "[OŌ]ita|Miyazaki|Kagoshima|Okinawa"
)
_RCITIES = "Sapporo|Sendai|Yokohama|Kawasaki|Sagamihara|Hamamatsu|Nagoya|Sakai|K[oō]be|Kitaky[uū]sh[uū]"
_RTOWN = rf"{_RW}(?:[- ](?:{_RW}|[0-9]{{1,2}}-?j[oō]|{_RL}+)){{0,3}}?"
_RMUNI = rf"{_RW}(?:-(?:ku|shi|gun|ch[oō]|machi|mura|son|Ku|Shi)| (?:City|Ward|Town|Village|County))"
_RTAIL = rf"(?:{_RPREFS}|{_RCITIES})(?:-(?:to|fu|ken|d[oō])| Prefecture| Pref\.)?"
_RBLOCK = "[0-9]{1,4}(?:-[0-9]{1,4}){1,3}"
ROMAN_ADDRESS = re.compile(
    rf"(?:(?<![0-9A-Za-z./\-]){_RBLOCK},? {_RTOWN}|(?<![A-Za-z]){_RTOWN},? {_RBLOCK})"
    rf"(?:,? {_RMUNI}){{1,3}}(?:,? {_RTAIL}){{0,2}}(?![A-Za-z])"
)
# A romanised address ends in its prefecture: a postal code may follow it.
ROMAN_ADDRESS_END = re.compile(rf"(?<![A-Za-z])(?:{_RPREFS})(?:-(?:to|fu|ken|d[oō])| Prefecture)?,? ?$")

# What may follow a postal code directly when it belongs to an address.
ADDRESS_START = re.compile(rf"\s?(?:{_PREFS}|{_CITIES})")
# "logo@2x.png" is an image name, not an e-mail address.
SCALED_ASSET = re.compile(r"@[0-9]+(?:\.[0-9]+)?x\.[A-Za-z]{2,5}(?![A-Za-z0-9.\-])")

_NAME_WORD = r"(?:[A-Z][a-z]+(?:-[A-Z][a-z]+)?|[A-Z]{2,}(?![a-z]))"
# Names never span lines, so words are joined by spaces only (not \s).
_HONORIFIC = "(?:様|さま|さん|氏|殿|君|くん|先生)"
# Separate patterns: one alternation of them defeats re's first-char scan.
LATIN_NAME = [
    re.compile(p)
    for p in [
        rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s(?P<a>{_NAME_WORD}(?: {_NAME_WORD}){{0,2}})",
        rf"\bDear\s(?P<b>{_NAME_WORD}(?: {_NAME_WORD}){{1,2}})",
        rf"(?<![A-Za-z])(?P<c>{_NAME_WORD} {_NAME_WORD})\s?{_HONORIFIC}",
        rf"(?i:\b(?:full\s)?name|氏名|名前|担当者?)\s?[:]\s?"
        rf"(?P<d>{_NAME_WORD}(?: {_NAME_WORD}){{1,2}})",
        rf"(?i:regards|sincerely|thanks|best),?\s*\n\s*(?P<e>{_NAME_WORD} {_NAME_WORD})",
    ]
]

_KNUM = f"[0-9]+(?:\\s?[{DASH}・/]\\s?[0-9]+)?"
_KSYM = "(?:[一-龥]{1,4}\\s?)?[0-9]+"  # a 記号 may carry kanji: "公立 23"
_KLABEL_END = r"\s?(?:[:は]\s?)?[「『\[]?"
# 被保険者番号 / 保険証の記号・番号: the value follows the label directly.
INSURED = re.compile(
    r"(?:被保険者(?:証)?|保険証)の?\s?(?:記号[・/]?番号|番号|記号)"
    rf"{_KLABEL_END}(?P<v>{_KNUM})(?![0-9])"
)
# Bare "記号・番号 公立 23・187" and split "記号 8012 番号 34" / "記号:1234 番号:567";
# the detector checks the context (insurance, not ゆうちょ).
INSURED_PAIR = re.compile(
    rf"記号\s?[・/]?\s?番号{_KLABEL_END}(?P<v>(?:[一-龥]{{1,4}}\s?)?{_KNUM})(?![0-9])"
    rf"|記号{_KLABEL_END}(?P<s>{_KSYM})(?![0-9])\s?[、,/]?\s?番号{_KLABEL_END}(?P<n>[0-9]+)(?![0-9])"
)
INSURED_CONTEXT = re.compile(r"保険|被保険者|健保|国保|組合員|資格確認")
BANK_CONTEXT = re.compile(r"ゆうちょ|貯金|口座|振込|振替|銀行")

HEALTH = re.compile(
    r"病名|診断名?|既往歴|病歴|障害|障がい|HIV|エイズ|がん|癌|うつ病|糖尿病|精神疾患|"
    r"統合失調症|認知症|服薬|通院歴|入院歴|(?i:medical history|diagnos[ie]s)"
)
SPECIAL_CARE = re.compile(r"犯罪歴|前科|逮捕歴|犯罪被害|信条|宗教|人種|(?i:criminal record)")

# Anchors for types whose values are only reported near these words.
_NOT_BIRTH = "(?![活産徒命物涯])"  # 日生 as in "…日生活", "…日生産"
DOB_ANCHOR = re.compile(
    rf"生(?:年月日|まれ|(?<=日生){_NOT_BIRTH}|(?<=日 生){_NOT_BIRTH})|誕生|DOB|D\.O\.B|[Bb]irth|[Bb]orn"
)
PASSPORT_ANCHOR = re.compile(r"旅券|パスポート|[Pp]assport|PASSPORT")

# Version numbers look like IPv4 ("ファームウェア 2.10.4.1"); network words win.
VERSION_CONTEXT = re.compile(
    r"version|ver\.|バージョン|(?<![A-Za-z])v(?=[0-9])|ファームウェア|firmware|release|リリース|rollback|"
    r"ロールバック|upgrade|アップグレード|アップデート|update|patch|パッチ|build|ビルド|仕様書|節|章|条項",
    re.IGNORECASE,
)
# Labels of non-personal numbers: a 10-digit order number is not a phone.
NOT_PHONE_CONTEXT = re.compile(
    r"注文|オーダー|order|invoice|請求書?番号|伝票|受付番号|管理番号|問い?合わ?せ番号|追跡|tracking|"
    r"会員番号|顧客番号|お客様番号|予約番号|商品番号|品番|型番|部品|製造番号|シリアル|serial|案件番号|"
    r"契約番号|口座|在庫|SKU|JAN|ISBN|ロット|lot",
    re.IGNORECASE,
)

# Words that make a nearby candidate more likely to be the given type.
CONTEXT: dict[str, re.Pattern[str]] = {
    name: re.compile(pat, re.IGNORECASE)
    for name, pat in {
        "phone": r"電話|TEL|携帯|phone|連絡先|FAX|ファックス|☎|mobile|call",
        "my_number": r"マイナンバー|個人番号|my\s?number",
        "corporate_number": r"法人番号|corporate\s?number",
        "credit_card": r"カード|クレジット|card|VISA|master|JCB|AMEX|diners",
        "health_insurer_number": r"(?<!被)保険者番号|(?<!被)保険者|insurer",
        "postal_code": r"〒|郵便|postal|zip|住所|所在地|address|送付先|お届け先|配送先|送り先",
        "bank_account": r"口座|普通|当座|預金|貯金|振込|ゆうちょ|account",
        "passport": r"旅券|パスポート|passport",
        "drivers_licence": r"免許|licen[cs]e",
        "pension_number": r"年金|pension",
        "date_of_birth": r"生年月日|誕生日?|生まれ|(?<=日)\s?生(?![活産徒命物涯])|DOB|D\.O\.B|birth|born",
        "ip_address": r"IP|アドレス|サーバ|server|host|接続|アクセス元|ping|ssh|ネットワーク|network|"
        r"ゲートウェイ|gateway|DNS|ルータ|router|subnet|サブネット|LAN|proxy|プロキシ|firewall|送信元|宛先",
        "email": r"メール|mail",
        "address": r"住所|所在地|address|自宅|住まい|送付先|お届け先",
        "person_name": r"氏名|名前|担当|name|患者|社員|従業員",
    }.items()
}
