"""Build eval/pii/holdout.jsonl: an independent, hand-written held-out PII set.

Written without reading the detector or its generator. Texts are inline; spans
are located with str.find so offsets are exact (Python str indices, end
exclusive). Check digits (My Number, corporate number, Luhn, insurer number)
are computed here.

Entity spec forms inside add():
  (type, value)            value must occur exactly once in the text
  (type, value, k)         k-th occurrence (0-based)
  (type, value, "all")     every occurrence
  (type, value, anchor)    the occurrence immediately preceded by anchor

Usage: python eval/pii/holdout_build.py   (writes holdout.jsonl beside it)
"""

from __future__ import annotations

import itertools
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("holdout.jsonl")

TYPES = {
    "my_number",
    "corporate_number",
    "credit_card",
    "health_insurer_number",
    "insurance_number",
    "phone",
    "postal_code",
    "address",
    "bank_account",
    "passport",
    "drivers_licence",
    "pension_number",
    "email",
    "ip_address",
    "date_of_birth",
    "person_name",
}


# ---------------------------------------------------------------- checksums
def mn_check(base11: str) -> int:
    assert len(base11) == 11 and base11.isdigit()
    s = 0
    for n in range(1, 12):
        p = int(base11[11 - n])
        q = n + 1 if n <= 6 else n - 5
        s += p * q
    r = s % 11
    return 0 if r <= 1 else 11 - r


def mn(base11: str) -> str:
    return base11 + str(mn_check(base11))


def mn_bad(base11: str) -> str:
    return base11 + str((mn_check(base11) + 3) % 10)


def mn_valid(d: str) -> bool:
    return len(d) == 12 and d.isdigit() and mn_check(d[:11]) == int(d[11])


def corp_check(base12: str) -> int:
    assert len(base12) == 12 and base12.isdigit()
    s = 0
    for n in range(1, 13):
        p = int(base12[12 - n])
        s += p * (1 if n % 2 else 2)
    return 9 - s % 9


def corp(base12: str) -> str:
    return str(corp_check(base12)) + base12


def corp_bad(base12: str) -> str:
    """Wrong check digit, also chosen so the 13 digits are not Luhn-valid (not card-shaped)."""
    for k in range(4, 14):
        cand = str((corp_check(base12) + k) % 10) + base12
        if not corp_valid(cand) and not luhn_ok(cand):
            return cand
    raise AssertionError(base12)


def corp_valid(d: str) -> bool:
    return len(d) == 13 and d.isdigit() and corp_check(d[1:]) == int(d[0])


def luhn_ok(d: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(d)):
        v = int(c)
        if i % 2 == 1:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return total % 10 == 0


def lc(partial: str) -> str:
    for c in "0123456789":
        if luhn_ok(partial + c):
            return partial + c
    raise AssertionError


def lc_bad(partial: str) -> str:
    good = lc(partial)
    return partial + str((int(good[-1]) + 5) % 10)


def ins_check(base7: str) -> int:
    """保険者番号 検証番号: weights 2,1,2,... from the lowest digit, digit-sum, 10 - mod 10."""
    assert len(base7) == 7 and base7.isdigit()
    s = 0
    for i, c in enumerate(reversed(base7)):
        v = int(c) * (2 if i % 2 == 0 else 1)
        s += v // 10 + v % 10
    return (10 - s % 10) % 10


def ins(base7: str) -> str:
    return base7 + str(ins_check(base7))


def ins_valid(d: str) -> bool:
    return len(d) == 8 and d.isdigit() and ins_check(d[:7]) == int(d[7])


def lic(d12: str) -> str:
    """A 12-digit licence-shaped number that is NOT a valid My Number."""
    assert len(d12) == 12
    if mn_valid(d12):
        d12 = d12[:11] + str((int(d12[11]) + 1) % 10)
    assert not mn_valid(d12)
    return d12


def jan(base12: str) -> str:
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(base12))
    return base12 + str((10 - s % 10) % 10)


# sanity checks against published examples
assert mn("12345678901") == "123456789018"
assert corp("000012050002") == "7000012050002"  # 国税庁
assert ins_valid("01130012")  # 協会けんぽ 東京支部
assert luhn_ok("4111111111111111")


# ---------------------------------------------------------------- formatting
_FW = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
_FW[" "] = "\u3000"


def fw(s: str, dash: str = "－") -> str:
    out = "".join(_FW.get(c, c) for c in s)
    return out.replace("－", dash)


def grp(s: str, sizes: list[int], sep: str = " ") -> str:
    assert sum(sizes) == len(s), (s, sizes)
    parts, i = [], 0
    for n in sizes:
        parts.append(s[i : i + n])
        i += n
    return sep.join(parts)


# ---------------------------------------------------------------- identifiers
MN_A = mn("38472910563")
MN_B = mn("50219834476")
MN_C = mn("71605529381")
MN_D = mn("24890137752")
MN_E = mn("93157720846")
MN_F = mn("60034519228")
MN_G = mn("81726354091")
MN_BAD1 = mn_bad("45120987336")
MN_BAD2 = mn_bad("71605529318")
MN_BAD3 = mn_bad("49382210775")
MN_BAD4 = mn_bad("45890123456")
MN_VALID_NEG = mn("36120048857")  # valid checksum, but used as a parcel tracking number

CORP_A = corp("180001045832")
CORP_B = corp("443003012877")
CORP_C = corp("010401139554")
CORP_D = corp("270001096612")
CORP_E = corp("011001072315")
CORP_BAD1 = corp_bad("120101055876")
CORP_BAD2 = corp_bad("234567890123")

VISA1 = lc("453201511283036")
VISA13 = lc("422222200041")
MC1 = lc("522488102937551")
MC2 = lc("222100004311278")
AMEX1 = lc("37144963539843")
JCB1 = lc("358921574400218")
JCB2 = lc("354012345678901")
DINERS1 = lc("3056930902590")
UNION19 = lc("621483000012345678")
CARD_BAD1 = lc_bad("490188012345678")
CARD_BAD2 = lc_bad("411111111111111")
CARD_BAD3 = lc_bad("601100998877665")

INS_A = ins("0613201")
INS_B = ins("0127001")
INS_C = ins("3113050")
INS_D = ins("0614092")
INS_E = ins("3927010")

LIC1 = lic("301204587216")
LIC2 = lic("621700338510")
LIC3 = lic("541209876543")
LIC4 = lic("442105550190")

JAN1 = jan("490123456788")
assert not corp_valid(JAN1), JAN1

# One entity spec, in the forms the module docstring lists.
Spec = tuple[str, str] | tuple[str, str, int | str]
EX: list[tuple[str, list[Spec], str]] = []


def add(text: str, ents: list[Spec], source: str) -> None:
    EX.append((text, ents, source))


# ============================================================== business email
add(
    "株式会社ミナト商事\n総務部 鈴木様\n\nいつもお世話になっております。アオバ物流の中村です。\n"
    "先日ご依頼いただいた請求書（請求番号 INV-2024-00871）を再送いたします。\n"
    "ご不明点がございましたら、03-5412-7789（直通）または nakamura.k@aoba-logi.co.jp までご連絡ください。\n\n中村 健太",
    [
        ("person_name", "鈴木"),
        ("person_name", "中村", 0),
        ("phone", "03-5412-7789"),
        ("email", "nakamura.k@aoba-logi.co.jp"),
        ("person_name", "中村 健太"),
    ],
    "business email JP, invoice no. negative",
)
add(
    "Hi Emily,\n\nThanks for the call earlier. As discussed, please send the signed NDA to our Osaka office:\n"
    "〒530-0001 大阪府大阪市北区梅田2-4-9\nAttn: Kenji Watanabe\nTel: +81-6-6345-1120\n\n"
    "Our PO number is PO-88213407; please quote it on the invoice. Payment terms are net 30 and the total is ¥2,480,000.\n\n"
    "Best,\nDaniel Brooks",
    [
        ("person_name", "Emily"),
        ("postal_code", "530-0001"),
        ("address", "大阪府大阪市北区梅田2-4-9"),
        ("person_name", "Kenji Watanabe"),
        ("phone", "+81-6-6345-1120"),
        ("person_name", "Daniel Brooks"),
    ],
    "business email EN with JP address",
)
add(
    "お客様：注文した商品がまだ届きません注文番号は20240312-448813です\n"
    "オペレーター：ご不便をおかけし申し訳ございませんお届け先のご住所とお電話番号を確認させてください\n"
    "お客様：神奈川県横浜市港北区日吉本町3-15-22で電話は080-4412-9035です\n"
    "オペレーター：ありがとうございます担当の森が確認いたします",
    [("address", "神奈川県横浜市港北区日吉本町3-15-22"), ("phone", "080-4412-9035"), ("person_name", "森")],
    "support chat, no spaces",
)
add(
    f"【人事メモ】\n氏名：高橋 美咲（たかはし みさき）\n生年月日：1992年11月3日\n入社日：2016年4月1日\n"
    f"所属：経営企画部\n個人番号：{MN_A} ※マイナンバー収集済（本人確認書類：運転免許証）\n扶養：配偶者あり",
    [
        ("person_name", "高橋 美咲"),
        ("person_name", "たかはし みさき"),
        ("date_of_birth", "1992年11月3日"),
        ("my_number", MN_A),
    ],
    "HR memo, hire date negative",
)
add(
    f"診療記録\n患者：山本　和夫 様（78歳）\n生年月日：昭和21年5月8日\n保険者番号：{INS_E}\n"
    "被保険者証 記号：1234 番号：567\n主訴：3日前からの咳嗽、発熱38.2℃。\n"
    "既往歴：高血圧（2015年より内服加療）\n次回受診予定：2024年6月14日 10:30",
    [
        ("person_name", "山本　和夫"),
        ("date_of_birth", "昭和21年5月8日"),
        ("health_insurer_number", INS_E),
        ("insurance_number", "1234", "記号："),
        ("insurance_number", "567", "番号："),
    ],
    "medical record",
)
add(
    f"請求書\n請求番号：No.2024-0588\n発行日：2024年5月31日\nお支払期限：2024年6月30日\n\n"
    f"株式会社サクラ設計 御中\n\n登録番号：T{CORP_A}\n株式会社山田製作所\n"
    "〒463-0021 愛知県名古屋市守山区大森4-1205\nTEL 052-791-3340 / FAX 052-791-3341\n\n"
    "品番 SKU-20458812 ステンレスボルト M8×40 1,200個 ¥86,400\n"
    "品番 SKU-20458830 ワッシャー 1,200個 ¥12,000\n合計 ¥108,240（税込）\n"
    "お振込先：三井住友銀行 名古屋支店（店番 270） 普通 4471928",
    [
        ("corporate_number", CORP_A),
        ("postal_code", "463-0021"),
        ("address", "愛知県名古屋市守山区大森4-1205"),
        ("phone", "052-791-3340"),
        ("phone", "052-791-3341"),
        ("bank_account", "4471928"),
    ],
    "invoice with SKUs, amounts, company name with surname",
)
add(
    "明日の件、何かあったら携帯に連絡して！０９０－３３２１－８８４６　佐々木",
    [("phone", "０９０－３３２１－８８４６"), ("person_name", "佐々木")],
    "chat, full-width phone",
)
add(
    "折り返しは０８０ー７７１２ー４０５３までお願いします（平日10時〜18時）",
    [("phone", "０８０ー７７１２ー４０５３")],
    "full-width phone with katakana long-vowel dashes",
)
add(
    f"ご注文ありがとうございます。ご注文番号：0312457789 お届け予定日：3月18日（月）。"
    f"配送状況は追跡番号 {grp(MN_BAD3, [4, 4, 4], '-')} でご確認いただけます。",
    [],
    "order confirmation: phone-shaped order no., 12-digit tracking (invalid MN)",
)
add(
    "hey can u send me ur email? mine is tom.h_1987@gmail.com btw. also my new number is 070 2218 5546",
    [("email", "tom.h_1987@gmail.com"), ("phone", "070 2218 5546")],
    "EN chat, spaced mobile",
)
add(
    f"年末調整の書類、個人番号の欄は {grp(MN_B, [4, 4, 4])} で合ってますか？前年と同じはずなんですが念のため。— 経理 小林",
    [("my_number", grp(MN_B, [4, 4, 4])), ("person_name", "小林")],
    "chat, spaced My Number",
)
add(
    f"資産管理番号 {MN_BAD1} のノートPC（ThinkPad X1）を情報システム部へ返却してください。",
    [],
    "12-digit asset number, invalid MN check digit",
)
add(
    f"法人番号：{CORP_B}\n商号：合同会社ノースウィンド\n本店所在地：北海道札幌市中央区北一条西3-2\n代表社員：小野寺 亮",
    [("corporate_number", CORP_B), ("address", "北海道札幌市中央区北一条西3-2"), ("person_name", "小野寺 亮")],
    "company registry extract",
)
add(
    f"受付番号 {CORP_BAD1} で申請を受け付けました。審査には2〜3週間かかります。",
    [],
    "13-digit receipt no., invalid corporate check digit",
)
add(
    f"お客様のカード番号 {grp(VISA1, [4, 4, 4, 4])} の有効期限は 09/27 です。セキュリティコードはお伝えいただかなくて結構です。",
    [("credit_card", grp(VISA1, [4, 4, 4, 4]))],
    "call-centre card read-back",
)
add(
    f"会員番号 {grp(CARD_BAD1, [4, 4, 4, 4], '-')} でログインできません。パスワードを再設定したいです。",
    [],
    "16-digit member no., Luhn-invalid",
)
add(
    f"Card ending 5517? No wait — the full number on file is {MC1} (Mastercard), exp 11/26. "
    "Please charge the deposit of ¥50,000 to that.",
    [("credit_card", MC1)],
    "EN card, ungrouped",
)
add(
    f"AMEX {grp(AMEX1, [4, 6, 5])} / 名義 HANAKO SUZUKI",
    [("credit_card", grp(AMEX1, [4, 6, 5])), ("person_name", "HANAKO SUZUKI")],
    "Amex 4-6-5 grouping, upper-case romaji name",
)
add(
    f"ＪＣＢカード：{fw(grp(JCB2, [4, 4, 4, 4], ' '))}（ご本人様名義）",
    [("credit_card", fw(grp(JCB2, [4, 4, 4, 4], " ")))],
    "full-width JCB with ideographic spaces",
)
add(
    "大阪本社 06(6231)4455 / 東京支社 (03)3580-2211",
    [("phone", "06(6231)4455"), ("phone", "(03)3580-2211")],
    "parenthesised landlines",
)
add(
    "フリーダイヤル 0120-987-654（受付時間 9:00〜17:00、土日祝を除く）、携帯電話からは 0570-064-321 をご利用ください。",
    [("phone", "0120-987-654"), ("phone", "0570-064-321")],
    "toll-free and navi-dial",
)
add("新サービスのお問い合わせ窓口は0800-222-7138です", [("phone", "0800-222-7138")], "0800 toll-free")
add("IP電話 050-5531-0827 に転送設定しました。", [("phone", "050-5531-0827")], "050 IP phone")
add(
    "From overseas, please dial +81 3 4578 1200 or +81-80-3391-0457 (Mr. Ishikawa's mobile).",
    [("phone", "+81 3 4578 1200"), ("phone", "+81-80-3391-0457"), ("person_name", "Ishikawa")],
    "+81 forms",
)
add(
    "電話番号09041237788に何度かけても繋がらないんですけど",
    [("phone", "09041237788")],
    "unhyphenated mobile, no spaces",
)
add("ISBN978-4-06-521134-9 の在庫を確認してください。価格は1,980円です。", [], "ISBN negative")
add("提出期限は2024年3月1日（金）17:00です。遅れる場合は事前にご相談ください。", [], "deadline date negative")
add(
    "The installer for version 1.2.3.4 fixes the memory leak; please upgrade from 1.2.2.9 before Friday.",
    [],
    "IP-shaped version numbers negative",
)
add(
    "サーバー 192.168.10.24 への SSH が 22番ポートで拒否されます。踏み台は 10.0.3.17 です。",
    [("ip_address", "192.168.10.24"), ("ip_address", "10.0.3.17")],
    "ops chat, IPv4",
)
add(
    'アクセスログ: 2001:db8:85a3::8a2e:370:7334 - - [12/Mar/2024:10:15:32 +0900] "GET /login HTTP/1.1" 200',
    [("ip_address", "2001:db8:85a3::8a2e:370:7334")],
    "IPv6 in access log, time negative",
)
add(
    '203.0.113.45 - - [05/Apr/2024:23:01:09 +0900] "POST /api/v2/orders HTTP/1.1" 201 512',
    [("ip_address", "203.0.113.45")],
    "IPv4 access log",
)
add(
    "プリンタのMACアドレスは 00:1A:2B:3C:4D:5E、ファームウェアは 4.10.2.1 です。",
    [],
    "MAC address and IP-shaped firmware version negative",
)
add("詳細は仕様書 3.2.1.4 節を参照してください。", [], "IP-shaped section number negative")
add(
    "Patient: Maria Gonzalez, DOB 04/17/1979, referred by Dr. Patel for follow-up.",
    [("person_name", "Maria Gonzalez"), ("date_of_birth", "04/17/1979"), ("person_name", "Patel")],
    "EN medical, US date DOB",
)
add(
    "Yuki was born on 3 March 1995 in Sendai, and moved to Tokyo in 2013.",
    [("person_name", "Yuki"), ("date_of_birth", "3 March 1995")],
    "EN born, place names negative",
)
add("S60.1.2生まれの男性、独身、趣味は釣り。", [("date_of_birth", "S60.1.2")], "abbreviated era DOB")
add("生年月日 平成3年4月5日（満33歳）", [("date_of_birth", "平成3年4月5日")], "Heisei DOB")
add(
    "長女 さくら（令和2年7月21日生まれ）の保育園入園申込について",
    [("person_name", "さくら"), ("date_of_birth", "令和2年7月21日")],
    "hiragana given name, Reiwa DOB",
)
add("会社の創立記念日は1978年6月1日です。", [], "founding date negative")
add(
    "旅券番号：TR8830215\n発行日：2019年8月20日\n有効期限：2029年8月20日",
    [("passport", "TR8830215")],
    "passport with issue/expiry dates",
)
add("Passport No. MZ4471093 (Japan), expires 2031-02-14.", [("passport", "MZ4471093")], "EN passport")
add("型番 XK2210458 のバッテリーは在庫切れです。", [], "passport-shaped model number negative")
add(f"運転免許証番号 {LIC1}（ゴールド）", [("drivers_licence", LIC1)], "licence number")
add(f"免許証の番号は第{LIC2}号です", [("drivers_licence", LIC2)], "licence 第…号")
add("基礎年金番号：4021-583716 の年金手帳を紛失しました。", [("pension_number", "4021-583716")], "pension number")
add(
    "年金番号 1187-204455 で照会してください（日本年金機構）",
    [("pension_number", "1187-204455")],
    "pension number short label",
)
add(
    "給与振込口座：みずほ銀行 渋谷支店 普通預金 口座番号 3358102 名義 ヤマダ タロウ",
    [("bank_account", "3358102"), ("person_name", "ヤマダ タロウ")],
    "payroll bank account, katakana name",
)
add(
    "ゆうちょ銀行 10170-24581931（記号-番号）へお振込みください。",
    [("bank_account", "10170-24581931")],
    "Japan Post Bank symbol-number",
)
add(
    "被保険者証の記号・番号は「７１２・４０５」です。",
    [("insurance_number", "７１２・４０５")],
    "insured symbol/number full-width",
)
add(
    f"Insurer No. (保険者番号) {INS_A} / 被保険者記号 ５０３ 番号 １２",
    [("health_insurer_number", INS_A), ("insurance_number", "５０３"), ("insurance_number", "１２")],
    "mixed EN/JP insurance card",
)
add(
    "伝票番号 01130012 の荷物が届いていません。",
    [],
    "8-digit slip number that is a valid insurer-number checksum (no context)",
)
add(
    "森さん、明日の打ち合わせ15時からに変更になりました。会議室は7階の702です。",
    [("person_name", "森")],
    "single-character surname, room number negative",
)
add("松本市の松本さんから電話がありました。折り返しお願いします。", [("person_name", "松本", 1)], "city vs surname")
add("石川県の工場見学は石川が引率します。", [("person_name", "石川", 1)], "prefecture vs bare surname")
add(
    "ジョン・スミス様からのご予約：3月20日 19:00、4名様、禁煙席希望。",
    [("person_name", "ジョン・スミス")],
    "katakana foreign name",
)
add(
    "Please cc Sarah on the thread; Akira already approved the budget.",
    [("person_name", "Sarah"), ("person_name", "Akira")],
    "EN first names alone",
)
add("株式会社田中工務店と佐藤電機株式会社の合同説明会は大阪で開催されます。", [], "company names containing surnames")
add("本田技研工業の株価が上昇し、トヨタ自動車も続伸した。", [], "company names negative")
add("渋谷で待ち合わせ。新宿経由で中野に行こう", [], "surname-like place names")
add("昨日、佐藤と飲みに行ったら偶然鈴木にも会った", [("person_name", "佐藤"), ("person_name", "鈴木")], "bare surnames")
add("了解です！山口さんに伝えておきます〜", [("person_name", "山口")], "chat surname")
add(
    "from: 林\nto: 全員\n件名: 来週の出張について\n大阪出張は火曜日出発です。新大阪駅に9時集合。",
    [("person_name", "林")],
    "single-char surname in header",
)
add(
    "お世話になっております。株式会社グリーンテックの小川でございます。", [("person_name", "小川")], "self-introduction"
)
add(
    "渡辺 直美様\n\nこの度はご購入いただき誠にありがとうございます。",
    [("person_name", "渡辺 直美")],
    "salutation with 様",
)
add(
    "差出人：Hiroshi Tanaka <h.tanaka@example.co.jp>",
    [("person_name", "Hiroshi Tanaka"), ("email", "h.tanaka@example.co.jp")],
    "From header",
)
add("Yamada Taro (Sales) will visit your office on 14 May.", [("person_name", "Yamada Taro")], "romaji surname-first")
add("Thanks, Olivia!", [("person_name", "Olivia")], "EN first name only")
add("今日は春らしい陽気で、桜が満開でした。", [], "common words that are also given names")
add("山田さんの山田製作所への転職が決まった", [("person_name", "山田", 0)], "person vs company with same surname")
add(
    "新住所：〒060-0042 北海道札幌市中央区大通西5-11-1 大通ハイツ502号室",
    [("postal_code", "060-0042"), ("address", "北海道札幌市中央区大通西5-11-1 大通ハイツ502号室")],
    "address with building and room",
)
add(
    "住所: 京都府京都市左京区北白川別当町12番地の3",
    [("address", "京都府京都市左京区北白川別当町12番地の3")],
    "番地の form",
)
add(
    "〒９８０－０８１１　宮城県仙台市青葉区一番町２丁目３番１０号",
    [("postal_code", "９８０－０８１１"), ("address", "宮城県仙台市青葉区一番町２丁目３番１０号")],
    "full-width postal + 丁目番号 address",
)
add("福岡県福岡市博多区博多駅前3丁目2-8", [("address", "福岡県福岡市博多区博多駅前3丁目2-8")], "bare address")
add("東京都港区で新しいオフィスを探しています。", [], "prefecture+ward only, no block")
add("沖縄県那覇市おもろまち4-19-29に住んでいます", [("address", "沖縄県那覇市おもろまち4-19-29")], "hiragana town name")
add(
    "送付先 231-0023 神奈川県横浜市中区山下町27-1",
    [("postal_code", "231-0023"), ("address", "神奈川県横浜市中区山下町27-1")],
    "postal code without 〒",
)
add("部品番号 123-4567 を発注してください", [], "postal-shaped part number")
add("郵便番号は530-0011です", [("postal_code", "530-0011")], "postal code with label only")
add(
    "別荘：長野県北佐久郡軽井沢町大字長倉2140-6",
    [("address", "長野県北佐久郡軽井沢町大字長倉2140-6")],
    "郡/町/大字 address",
)
add("実家は岐阜県大野郡白川村荻町1086です", [("address", "岐阜県大野郡白川村荻町1086")], "village address")
add(
    "Ship to: 3-5-12 Minami-Aoyama, Minato-ku, Tokyo 107-0062",
    [("address", "3-5-12 Minami-Aoyama, Minato-ku, Tokyo"), ("postal_code", "107-0062")],
    "romanised address",
)
add("ご意見は support@onshore-example.jp までお寄せください", [("email", "support@onshore-example.jp")], "email")
add("画像は logo@2x.png と icon@3x.png を使ってください", [], "retina asset filenames negative")
add("npm install react@18.2.0 で入れ直したら直った", [], "npm version specifier negative")
add("@tanaka_dev さんのツイートを見て設定を変えました", [], "social handle negative")
add(
    "メール：ｙａｍａｄａ．ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ",
    [("email", "ｙａｍａｄａ．ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ")],
    "full-width email",
)
add(
    "Newsletter sign-ups go to first.last+newsletter@mail.example.com for now.",
    [("email", "first.last+newsletter@mail.example.com")],
    "plus-addressed email",
)
add(
    "【会員登録内容の確認】\nお名前：井上 翔太\nフリガナ：イノウエ ショウタ\n生年月日：1988/02/29\n性別：男性\n"
    "メールアドレス：shota.inoue88@example.ne.jp\n電話番号：090-6654-2231\n"
    "ご住所：〒812-0011 福岡県福岡市博多区博多駅前2-1-1\n会員ID：M00482231\n登録日：2024/04/01",
    [
        ("person_name", "井上 翔太"),
        ("person_name", "イノウエ ショウタ"),
        ("date_of_birth", "1988/02/29"),
        ("email", "shota.inoue88@example.ne.jp"),
        ("phone", "090-6654-2231"),
        ("postal_code", "812-0011"),
        ("address", "福岡県福岡市博多区博多駅前2-1-1"),
    ],
    "membership form",
)
add(
    "Customer: Akiko Mori\nDate of birth: 12 Aug 1975\nNationality: Japan\nPassport: TZ0931184\n"
    "Address: 2-14-3 Kichijoji-Honcho, Musashino-shi, Tokyo\nPhone: +81 90-2841-7755\n"
    "Email: akiko.mori@example.com\nAccount opened: 2023-11-02",
    [
        ("person_name", "Akiko Mori"),
        ("date_of_birth", "12 Aug 1975"),
        ("passport", "TZ0931184"),
        ("address", "2-14-3 Kichijoji-Honcho, Musashino-shi, Tokyo"),
        ("phone", "+81 90-2841-7755"),
        ("email", "akiko.mori@example.com"),
    ],
    "EN KYC record",
)
add("生年月日：H7.12.25　血液型：A", [("date_of_birth", "H7.12.25")], "abbreviated Heisei DOB")
add("会議室Bは3F-305、開始は13:30、予算は¥1,234,567です。", [], "room, time, amount negatives")
add("在庫数 1,234,567 個、単価 ¥980", [], "quantity negative")
add("電話会議のIDは 812 4455 9031、パスコードは 774120 です。", [], "meeting ID negative (phone-shaped)")
add("口座振替日は毎月27日です。", [], "bank context without number")
add(
    f"Order #100234587 shipped via Yamato, tracking {grp(MN_BAD4, [4, 4, 4], '-')}.",
    [],
    "EN order/tracking negatives",
)
add(
    f"ヤマト運輸のお問い合わせ伝票番号は {grp(MN_VALID_NEG, [4, 4, 4], '-')} です。",
    [],
    "CONTEXT-ONLY negative: tracking number that happens to pass the MN checksum",
)
add(f"JANコード {JAN1} の商品を10ケース追加発注", [], "JAN barcode 13 digits")
add(f"請求書番号 {CORP_BAD2} についてのお問い合わせ", [], "13-digit invoice no., invalid corporate check")
add("今どこ？渋谷駅着いたら080-1192-3345に電話して〜", [("phone", "080-1192-3345")], "chat mobile no spaces")
add("ごめん番号変わった！新しいのは07022184471", [("phone", "07022184471")], "chat unhyphenated 070")
add(
    "@channel 本番DBのIPが 172.31.44.201 に変わりました。接続文字列の更新お願いします by 西村",
    [("ip_address", "172.31.44.201"), ("person_name", "西村")],
    "Slack mixed",
)
add(
    "Wi-Fi: SSID Guest-5G / PW: sakura2024 / gateway 192.168.0.1",
    [("ip_address", "192.168.0.1")],
    "gateway IP",
)
add(
    "不正ログインの疑い：接続元 198.51.100.23（2024/03/04 02:13）、ユーザー kobayashi.m",
    [("ip_address", "198.51.100.23")],
    "security alert",
)
add(
    "自宅のIPv6アドレスは 2400:4051:2a0:8c00:d1e4:77b2:91ac:3f05 です",
    [("ip_address", "2400:4051:2a0:8c00:d1e4:77b2:91ac:3f05")],
    "full IPv6",
)
add(
    "【紹介状】\n〇〇大学病院 循環器内科 御侍史\n患者氏名：加藤 洋子 殿　女性\n生年月日：昭和45年10月2日\n"
    "住所：埼玉県さいたま市浦和区高砂3-1-4\n連絡先：048-822-3301\n"
    "平素より大変お世話になっております。上記患者様、労作時胸痛にて当院受診されました。心電図にてST低下を認め…\n\n"
    "藤原クリニック 院長 藤原 誠",
    [
        ("person_name", "加藤 洋子"),
        ("date_of_birth", "昭和45年10月2日"),
        ("address", "埼玉県さいたま市浦和区高砂3-1-4"),
        ("phone", "048-822-3301"),
        ("person_name", "藤原 誠"),
    ],
    "referral letter; clinic name negative",
)
add(
    "Pt Kenji Sato, 54M, DOB 1970-01-22, MRN 00482917. BP 142/88, HR 76. Plan: recheck in 2 weeks.",
    [("person_name", "Kenji Sato"), ("date_of_birth", "1970-01-22")],
    "EN clinical shorthand",
)
add(
    f"健康保険被保険者証\n本人（被保険者）\n記号 8012 番号 34\n氏名 前田 恵\n生年月日 平成元年9月14日\n"
    f"保険者番号 {INS_B}\n保険者名称 全国健康保険協会 大阪支部",
    [
        ("insurance_number", "8012"),
        ("insurance_number", "34", "番号 "),
        ("person_name", "前田 恵"),
        ("date_of_birth", "平成元年9月14日"),
        ("health_insurer_number", INS_B),
    ],
    "insurance card OCR",
)
add(
    "お薬手帳 氏名：長谷川 潤 様 生年月日：S52.3.30 処方：ロキソプロフェン60mg 3錠 分3 毎食後 5日分",
    [("person_name", "長谷川 潤"), ("date_of_birth", "S52.3.30")],
    "pharmacy note, dosage negatives",
)
add(
    "退職者リスト（2024年3月末）\n・岡田 大輔（社員番号 A-10234）退職日 3/31\n・木村 さやか（社員番号 A-10871）退職日 3/15\n"
    "年金事務所への資格喪失届は4/5までに提出。",
    [("person_name", "岡田 大輔"), ("person_name", "木村 さやか")],
    "HR list, employee IDs negative",
)
add(
    "扶養親族：長男 悠真（平成24年1月9日生）",
    [("person_name", "悠真"), ("date_of_birth", "平成24年1月9日")],
    "given name only, 生 suffix",
)
add(
    "源泉徴収票送付先：〒150-0002 東京都渋谷区渋谷2-21-1",
    [("postal_code", "150-0002"), ("address", "東京都渋谷区渋谷2-21-1")],
    "address ward=town name",
)
add(
    f"クレジットカード番号：{grp(JCB1, [4, 4, 4, 4], '-')}",
    [("credit_card", grp(JCB1, [4, 4, 4, 4], "-"))],
    "dashed JCB",
)
add(
    f"Diners Club {grp(DINERS1, [4, 6, 4])} is accepted at the front desk.",
    [("credit_card", grp(DINERS1, [4, 6, 4]))],
    "Diners 14 digits",
)
add(
    f"カード番号 {grp(CARD_BAD2, [4, 4, 4, 4])} は「無効なカード番号です」とエラーになりました",
    [],
    "Luhn-invalid 16 digits in card context",
)
add(
    "Dear Mr. Nakamura,\nYour reservation (confirmation code HX7K2P) at Hotel Granvia Kyoto is confirmed for 2 nights, "
    "check-in 2024-05-03. Please present the credit card used at booking.\nKind regards,\nFront Desk",
    [("person_name", "Nakamura")],
    "hotel confirmation",
)
add(
    "Invoice INV-00912 — amount due USD 4,560.00 by 15 June 2024. Remit to account 3849201 at MUFG Bank, Shinjuku branch.",
    [("bank_account", "3849201")],
    "EN invoice bank account",
)
add(
    "Employee Jessica Lee (ID 44812) — emergency contact: husband Mark Lee, 080-2256-9910.",
    [("person_name", "Jessica Lee"), ("person_name", "Mark Lee"), ("phone", "080-2256-9910")],
    "EN HR emergency contact",
)
add(f"Please enter your My Number ({MN_E}) in box 3 of the form.", [("my_number", MN_E)], "EN My Number")
add(
    f"Corporate Number: {CORP_C} / Qualified invoice issuer registration no. T{CORP_C}",
    [("corporate_number", CORP_C, "all")],
    "EN corporate number twice (plain and T-prefixed)",
)
add(f"法人番号　{fw(CORP_D)}", [("corporate_number", fw(CORP_D))], "full-width corporate number")
add("営業時間 10:00-19:00（最終受付 18:30）", [], "opening hours")
add("第2024-031号 令和6年4月1日 通知書", [], "document number and date")
add("法令番号：平成15年法律第57号（個人情報の保護に関する法律）", [], "law number")
add("誕生日プレゼントは5月10日までに発送します", [], "birth word near a shipping date")
add("生年月日の欄は必須です。提出期限：2024年4月30日", [], "birth word near a deadline")
add("1985年に設立、従業員は約120名", [], "founding year")
add(
    "来週から新しく入る王さんと李さんの歓迎会を企画中",
    [("person_name", "王"), ("person_name", "李")],
    "single-char Chinese surnames",
)
add(
    "キム・ミンジュンさんのビザ更新書類を準備してください",
    [("person_name", "キム・ミンジュン")],
    "katakana Korean name",
)
add("担当：ｻﾄｳ ﾀｹｼ（内線 231）", [("person_name", "ｻﾄｳ ﾀｹｼ")], "half-width katakana name")
add("お名前（カナ）：スズキ ハルカ", [("person_name", "スズキ ハルカ")], "katakana name in form")
add("大野さんが大野城市に引っ越した", [("person_name", "大野", 0)], "surname vs city containing it")
add("日本橋の三越で待ち合わせしましょう", [], "place + department store")
add(
    "高橋（営業）→ 山崎（経理）に引き継ぎ済み",
    [("person_name", "高橋"), ("person_name", "山崎")],
    "bare surnames with dept",
)
add(
    "Meeting notes: Attendees — Chen Wei, Priya Raman, 佐野 (PM). Action: Priya to share deck by Fri.",
    [
        ("person_name", "Chen Wei"),
        ("person_name", "Priya Raman"),
        ("person_name", "佐野"),
        ("person_name", "Priya", "Action: "),
    ],
    "mixed-language attendee list",
)
add("The Tokyo Metropolitan Government and Osaka Gas signed an agreement.", [], "EN organisations negative")
add(
    "Mr. Brown and Ms. Green met at the White House.",
    [("person_name", "Brown"), ("person_name", "Green")],
    "colour-word surnames",
)
add("昨夜は中島みゆきのコンサートに行ってきた", [("person_name", "中島みゆき")], "celebrity full name, no space")
add("青森県と秋田県の県境付近で雪が降っている", [], "prefectures negative")
add("田中は本日休みです", [("person_name", "田中")], "bare surname")
add("まさとくんのママから連絡あり。明日お迎えは18時頃とのこと", [("person_name", "まさと")], "hiragana child name")
add(
    "ＴＥＬ：０３－６２１２－４８７０　ＦＡＸ：０３－６２１２－４８７１",
    [("phone", "０３－６２１２－４８７０"), ("phone", "０３－６２１２－４８７１")],
    "full-width TEL/FAX",
)
add("携帯 ０８０‐２２３３‐９９０１", [("phone", "０８０‐２２３３‐９９０１")], "U+2010 hyphen")
add("電話 090−5566−7788", [("phone", "090−5566−7788")], "U+2212 minus")
add("TEL 045–671–2290", [("phone", "045–671–2290")], "en-dash")
add("電話番号は 090 - 4411 - 2098 です", [("phone", "090 - 4411 - 2098")], "spaced hyphens")
add("生まれは1990年12月24日、クリスマスイブです", [("date_of_birth", "1990年12月24日")], "生まれは DOB")
add("DOB: 15-Jul-1983", [("date_of_birth", "15-Jul-1983")], "DD-Mon-YYYY")
add("She was born 1979/05/06 in Kobe.", [("date_of_birth", "1979/05/06")], "EN born slash date")
add("生年月日：１９８２年　７月１９日", [("date_of_birth", "１９８２年　７月１９日")], "full-width DOB with space")
add("昭和６２年１月３日生まれ", [("date_of_birth", "昭和６２年１月３日")], "full-width era DOB")
add("パスポート番号 ＴＨ３３０１８２７", [("passport", "ＴＨ３３０１８２７")], "full-width passport")
add(
    f"Driver's licence (免許証) no. {grp(LIC3, [4, 4, 4])} — 有効期限 令和8年",
    [("drivers_licence", grp(LIC3, [4, 4, 4]))],
    "spaced licence",
)
add("基礎年金番号 ２０１３－４５７８９２", [("pension_number", "２０１３－４５７８９２")], "full-width pension")
add("見積番号 5531-220874 の内容で発注します", [], "pension-shaped quote number")
add(
    "振込先：楽天銀行 第一営業支店(251) 普通 7712094 カ）サクラデザイン",
    [("bank_account", "7712094")],
    "bank with branch code, company kana holder",
)
add("口座番号：当座 0098812、三菱UFJ銀行 本店", [("bank_account", "0098812")], "current account")
add(
    "Bank: Resona Bank, Umeda branch / Account type: Savings / Account no.: 1560283 / Holder: Haruto Kimura",
    [("bank_account", "1560283"), ("person_name", "Haruto Kimura")],
    "EN bank details",
)
add("振込手数料は440円、振込期限は4月25日、振込依頼人番号 1234567890", [], "transfer fee/ref negatives")
add(
    "CC: hr-team@corp.example, keiko_s@example.org",
    [("email", "hr-team@corp.example"), ("email", "keiko_s@example.org")],
    "two emails",
)
add(
    "[10:02] 佐藤: 例の顧客、電話番号 03-3401-2299 で合ってる？\n[10:03] Lee: yes, and the contact is Ms. Aoki\n"
    "[10:05] 佐藤: 了解、青木さんにメールしとく aoki@sunrise-trading.co.jp",
    [
        ("person_name", "佐藤", "all"),
        ("phone", "03-3401-2299"),
        ("person_name", "Lee"),
        ("person_name", "Aoki"),
        ("person_name", "青木"),
        ("email", "aoki@sunrise-trading.co.jp"),
    ],
    "chat log with timestamps",
)
add(
    "| 社員番号 | 氏名 | 内線 |\n| 10023 | 野村 拓也 | 4412 |\n| 10024 | 松井 彩 | 4413 |",
    [("person_name", "野村 拓也"), ("person_name", "松井 彩")],
    "markdown table",
)
add(
    "原告 桜井 亮介（住所：千葉県船橋市本町1-3-1）は、被告に対し金150万円の支払を求める。",
    [("person_name", "桜井 亮介"), ("address", "千葉県船橋市本町1-3-1")],
    "legal document",
)
add(
    "物件所在地：東京都世田谷区三軒茶屋2-11-22、専有面積 25.4㎡、賃料 ¥98,000",
    [("address", "東京都世田谷区三軒茶屋2-11-22")],
    "real estate listing",
)
add(
    f"給与支払者の法人番号 {CORP_E}、受給者の個人番号 {MN_F}",
    [("corporate_number", CORP_E), ("my_number", MN_F)],
    "withholding slip: corporate + My Number side by side",
)
add(
    f"旧番号 {MN_BAD2} は誤りでした。正しい個人番号は {MN_C} です。",
    [("my_number", MN_C)],
    "invalid then valid My Number",
)
add(f"ポイントカード番号 {CARD_BAD3}", [], "Luhn-invalid 16-digit point card")
add("ギフトコード：AB12-CD34-EF56-GH78", [], "gift code")
add("代表 03-5555-0123（内線 204）", [("phone", "03-5555-0123")], "phone with extension")
add("緊急連絡先：母 090 8812 4470（日中は仕事のため夜に）", [("phone", "090 8812 4470")], "emergency contact")
add(
    "【重要】お客様の口座が凍結されました。解除はこちら http://192.0.2.77/login から",
    [("ip_address", "192.0.2.77")],
    "phishing SMS, IP in URL",
)
add("Server version 5.7.42-0ubuntu0.18.04.1", [], "version string")
add("I was born in Yokohama on the 4th of July, 1986.", [("date_of_birth", "4th of July, 1986")], "EN ordinal date")
add("在庫管理システムのSKU-88120456とSKU-88120457を統合しました。", [], "SKUs")
add("2024年度の売上は¥1,234,567,890で前年比112.3%でした。", [], "revenue")
add("部屋番号 1203、暗証番号は本人に口頭で伝えます。", [], "room number")
add("電車は8:15発、9:02着。乗り換えは大宮で。", [], "times")
add("ロット番号 240315-0912-A、使用期限 2026.03", [], "lot number")
add("release 3.14.159.26 is tagged; rollback target is 3.14.158.9", [], "IP-shaped release numbers")
add("お見積り金額 1,280,000円（税別）、納期はご発注から約45日です。", [], "quote amount")
add("京都府の観光客数は2023年に過去最高を記録した。", [], "prefecture stat")
add("山手線の新駅「高輪ゲートウェイ」は2020年3月14日に開業した。", [], "opening date")
add("株式会社小林製薬の新商品が発売された", [], "company with surname")
add("東横線の武蔵小杉駅で人身事故、運転見合わせ中", [], "station names")
add("問い合わせ番号：2024-0315-7781-22", [], "inquiry number")
add("マイナンバーカードの申請方法について教えてください。", [], "My Number word without number")
add("クレジットカードの有効期限が切れていました（12/24）", [], "card expiry only")
add("平成の時代は1989年1月8日に始まった。", [], "historical date")
add("The meeting is at 10.30 on 1.2.2025 in room 4.12.", [], "dotted times/dates")
add("2000年問題でシステムが止まった", [], "Y2K")
add(f"商品コード {MN_BAD4[::-1]} の棚卸しをお願いします", [], "12-digit product code")
add("電話番号の変更手続きはマイページから行えます", [], "phone word, no number")
add("誕生石はアメジスト。2月生まれの人へのプレゼントに最適", [], "生まれ without a date")
add("Python 3.11.4 と Node.js 20.11.1 をインストール", [], "3-part versions")
add("特売：卵 198円、牛乳 238円、食パン 158円", [], "prices")
add("西暦2024年は令和6年にあたります", [], "era conversion")

# ---------------------------------------------------------------- more mixed
add(
    "件名：【至急】振込先変更のお知らせ\n\n経理ご担当者様\n\n平素より格別のお引き立てを賜り厚く御礼申し上げます。\n"
    "弊社の振込先口座を下記の通り変更いたしましたのでお知らせいたします。\n\n"
    "新）北洋銀行 大通支店 普通 5023817\n旧）北海道銀行 本店営業部 普通 1198830\n\n"
    "適用開始日：2024年7月1日\n株式会社エゾテック 経理部 菅原 由紀\nTEL 011-231-8890",
    [("bank_account", "5023817"), ("bank_account", "1198830"), ("person_name", "菅原 由紀"), ("phone", "011-231-8890")],
    "bank change notice",
)
add(
    "患者さん（76歳男性）は昨日から発熱。家族（長男・090-7731-2046）へは16時に連絡済。担当Ns 吉田、主治医 岡本Dr。",
    [("phone", "090-7731-2046"), ("person_name", "吉田"), ("person_name", "岡本")],
    "nursing note shorthand",
)
add(
    "お問い合わせありがとうございます。ご登録のメールアドレス（m-kondo@example.jp）宛に確認コード 482913 を送信しました。"
    "コードの有効期限は10分です。",
    [("email", "m-kondo@example.jp")],
    "OTP code negative",
)
add(
    f"本人確認書類：個人番号カード（番号 {fw(MN_D)}）",
    [("my_number", fw(MN_D))],
    "full-width My Number",
)
add(
    f"マイナンバー{grp(MN_G, [4, 4, 4], '-')}、基礎年金番号3310-025519、どちらも控えを同封します。",
    [("my_number", grp(MN_G, [4, 4, 4], "-")), ("pension_number", "3310-025519")],
    "dashed My Number + pension, no spaces",
)
add(
    f"保険証の保険者番号は{INS_C}、記号・番号は「公立 ２３・１８７」です",
    [("health_insurer_number", INS_C), ("insurance_number", "公立 ２３・１８７")],
    "mutual-aid insurer with kanji symbol",
)
add(
    f"加入健保：ABC健康保険組合（保険者番号 {INS_D}）\n被保険者氏名：村上 陽介\n記号 22 番号 1045",
    [
        ("health_insurer_number", INS_D),
        ("person_name", "村上 陽介"),
        ("insurance_number", "22", "記号 "),
        ("insurance_number", "1045"),
    ],
    "corporate health insurance",
)
add("社員番号 06139870 の勤怠を修正してください", [], "8-digit employee number negative")
add(
    f"運転免許証（番号：{fw(LIC4)}）のコピーを添付します。氏名 清水 翼",
    [("drivers_licence", fw(LIC4)), ("person_name", "清水 翼")],
    "full-width licence",
)
add(
    f"Card: {grp(VISA13, [4, 3, 3, 3])} (old 13-digit Visa) — please replace it with the new one.",
    [("credit_card", grp(VISA13, [4, 3, 3, 3]))],
    "13-digit Visa",
)
add(
    f"银联卡号 {grp(UNION19, [6, 13], ' ')}，请核对。",
    [("credit_card", grp(UNION19, [6, 13], " "))],
    "19-digit UnionPay in Chinese",
)
add(
    f"お支払い：Mastercard {grp(MC2, [4, 4, 4, 4], '-')}（一括）",
    [("credit_card", grp(MC2, [4, 4, 4, 4], "-"))],
    "2-series Mastercard",
)
add(
    "宛先：〒604-8006 京都府京都市中京区河原町通三条上る下丸屋町390 河原町ビル3F　西田 恭子 様",
    [
        ("postal_code", "604-8006"),
        ("address", "京都府京都市中京区河原町通三条上る下丸屋町390 河原町ビル3F"),
        ("person_name", "西田 恭子"),
    ],
    "Kyoto street-style address with building",
)
add(
    "大阪市北区梅田3-1-3 の本社ビル1階受付までお越しください。",
    [("address", "大阪市北区梅田3-1-3")],
    "address without prefecture (designated city)",
)
add(
    "兵庫県神戸市中央区三宮町1丁目9番1-1201号",
    [("address", "兵庫県神戸市中央区三宮町1丁目9番1-1201号")],
    "address with room suffix",
)
add(
    "東京都千代田区の皇居周辺をランニングしました。距離は5.2km。",
    [],
    "prefecture+ward mention, distance",
)
add(
    "郵送先は〒1000014、東京都千代田区永田町1-7-1でお願いします",
    [("postal_code", "1000014"), ("address", "東京都千代田区永田町1-7-1")],
    "unhyphenated postal code after 〒",
)
add(
    "Hello Kenta, your Onshore account (user ID 00482915) was accessed from 203.0.113.198 on 2024-06-02 03:11 JST. "
    "If this wasn't you, reset your password.",
    [("person_name", "Kenta"), ("ip_address", "203.0.113.198")],
    "security notification EN",
)
add(
    "fe80::1ff:fe23:4567:890a%eth0 からの ping は通るが 10.20.30.40 へは届かない",
    [("ip_address", "fe80::1ff:fe23:4567:890a"), ("ip_address", "10.20.30.40")],
    "link-local IPv6 with zone id",
)
add(
    "タイムスタンプ 12:34:56 と 23:59:59 の間にエラーが集中。エラーコード E:0x1F:42",
    [],
    "colon-separated times (IPv6-ish) negative",
)
add(
    "Tanaka-san, the file is on \\\\fileserver01\\share\\2024\\Q2. Ping me if you can't access it. – Lucas",
    [("person_name", "Tanaka"), ("person_name", "Lucas")],
    "romaji surname with -san",
)
add(
    "ご契約者：株式会社ひまわり不動産 代表取締役 斎藤 修\n連絡先：0466-22-5120",
    [("person_name", "斎藤 修"), ("phone", "0466-22-5120")],
    "4-digit area code landline",
)
add("ご連絡は0166-12-3456（旭川営業所）まで", [("phone", "0166-12-3456")], "4-digit area code")
add("Fax: 03-3211-0098  Tel: 03-3211-0099", [("phone", "03-3211-0098"), ("phone", "03-3211-0099")], "EN tel/fax")
add(
    "うちの息子、平成30年生まれで今年から小学生です。",
    [],
    "year-only birth (not a full date) negative",
)
add(
    "S63年入社、H2年に大阪転勤、H15年に課長昇進",
    [],
    "era-abbrev career dates negative",
)
add(
    "見積有効期限：R6.9.30　納品予定：R6.10.15",
    [],
    "era-abbrev business dates negative",
)
add(
    "氏名 小松 千尋　生年月日 1996(平成8)年3月12日　現住所 広島県広島市中区紙屋町1-2-22",
    [
        ("person_name", "小松 千尋"),
        ("date_of_birth", "1996(平成8)年3月12日"),
        ("address", "広島県広島市中区紙屋町1-2-22"),
    ],
    "resume header",
)
add(
    "学歴\n2015年3月 広島県立国泰寺高等学校 卒業\n2015年4月 広島大学 経済学部 入学\n2019年3月 同 卒業",
    [],
    "resume education dates negative",
)
add(
    "弊社代表の中田が登壇いたします。なお中田町での開催となりますのでご注意ください。",
    [("person_name", "中田", 0)],
    "surname vs town name",
)
add(
    "連絡先：山下（やました）090-3312-7045 ※不在時は妻の由美まで",
    [("person_name", "山下"), ("person_name", "やました"), ("phone", "090-3312-7045"), ("person_name", "由美")],
    "surname + reading + given name",
)
add(
    "ご依頼主：佐藤様　お届け先：佐藤様方 田村 正樹様",
    [("person_name", "佐藤", "all"), ("person_name", "田村 正樹")],
    "delivery slip c/o",
)
add(
    "Anna Schmidt (anna.schmidt@example.de) and José García will join from the Berlin and Madrid offices.",
    [("person_name", "Anna Schmidt"), ("email", "anna.schmidt@example.de"), ("person_name", "José García")],
    "European names",
)
add(
    "サポート担当のマイケルです。本日はアカウント設定についてご案内します。",
    [("person_name", "マイケル")],
    "katakana given name",
)
add(
    "富士山の標高は3,776m、富士市からの眺めが有名です。",
    [],
    "place names, heights",
)
add(
    "原田さん宛の書留は原田駅前郵便局に保管されています（保管期限 6/20）",
    [("person_name", "原田", 0)],
    "surname vs post office name",
)
add(
    "振込人名義：ｶﾜｸﾞﾁ ｹﾝｼﾞ　金額：35,000円",
    [("person_name", "ｶﾜｸﾞﾁ ｹﾝｼﾞ")],
    "half-width katakana payer name",
)
add(
    "IPアドレス制限：許可リストに 203.0.113.0/24 と 198.51.100.14 を追加済み",
    [("ip_address", "203.0.113.0"), ("ip_address", "198.51.100.14")],
    "CIDR + single IP (label address part only)",
)
add(
    "temperature readings: 36.5, 36.8, 37.2, 38.1 — fever started on day 3",
    [],
    "comma-separated decimals",
)
add(
    "口座：0001-123-1234567（銀行コード-支店コード-口座番号）",
    [("bank_account", "1234567")],
    "compound bank/branch/account code, label account only",
)
add(
    "振込先は、あおぞら銀行の本店、普通口座で番号は６６０２３１９です。",
    [("bank_account", "６６０２３１９")],
    "full-width account number in prose",
)
add(
    "ワクチン接種券の券番号 1234567890 を入力してください",
    [],
    "10-digit voucher number negative",
)
add(
    "Her passport number is TK 4470219, issued in Osaka.",
    [("passport", "TK 4470219")],
    "passport with space",
)
add(
    "便名 NH0212、座席 34K、予約番号 7XQ2LM",
    [],
    "flight/booking codes",
)
add(
    "Contact: Dr. Aiko Fujimoto, Department of Neurology — aiko.fujimoto@med.example.ac.jp, ext. 5521",
    [("person_name", "Aiko Fujimoto"), ("email", "aiko.fujimoto@med.example.ac.jp")],
    "academic signature",
)
add(
    "お電話番号（ハイフンなし）：０３６２２５１１８７",
    [("phone", "０３６２２５１１８７")],
    "full-width unhyphenated landline",
)
add(
    "+81 (0)90-8841-2207 までWhatsAppでもどうぞ",
    [("phone", "+81 (0)90-8841-2207")],
    "+81 (0) trunk form",
)
add(
    "配達員の方へ：インターホン 305 を押してください。不在時は宅配ボックス 12 番へ。",
    [],
    "intercom / box numbers",
)
add(
    "生年月日：1975年（昭和50年）8月30日生　満48歳",
    [("date_of_birth", "1975年（昭和50年）8月30日")],
    "DOB with parenthetical era",
)
add(
    "ご本人様確認のため、生年月日（例：19800101）を入力してください。",
    [],
    "form instruction with example DOB placeholder",
)
add(
    "DOB 1969.11.23 / 血液型 O / アレルギー：ペニシリン",
    [("date_of_birth", "1969.11.23")],
    "dotted DOB",
)
add(
    "予約日：2024年8月12日（月）14:00〜　担当 堀",
    [("person_name", "堀")],
    "appointment date negative, single-char surname",
)


# ---------------------------------------------------------------- build
def resolve(text: str, spec: Spec) -> list[tuple[str, int, int]]:
    typ, value = spec[0], spec[1]
    assert typ in TYPES, typ
    assert value, spec
    occ = []
    i = text.find(value)
    while i != -1:
        occ.append(i)
        i = text.find(value, i + 1)
    assert occ, f"value {value!r} not found in {text!r}"
    if len(spec) == 2:
        assert len(occ) == 1, f"value {value!r} occurs {len(occ)}x in {text!r}; give k/anchor/'all'"
        starts = occ
    elif spec[2] == "all":
        starts = occ
    elif isinstance(spec[2], int):
        starts = [occ[spec[2]]]
    else:
        anchor = spec[2]
        j = text.find(anchor + value)
        assert j != -1, (anchor, value)
        assert text.find(anchor + value, j + 1) == -1, f"anchor {anchor!r}+{value!r} ambiguous"
        starts = [j + len(anchor)]
    return [(typ, s, s + len(value)) for s in starts]


def digits(s: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", s))


def validate(typ: str, span: str) -> None:
    d = digits(span)
    if typ == "my_number":
        assert mn_valid(d), span
    elif typ == "corporate_number":
        assert corp_valid(d), span
    elif typ == "credit_card":
        assert 13 <= len(d) <= 19 and luhn_ok(d), span
    elif typ == "health_insurer_number":
        assert ins_valid(d), span
    elif typ == "drivers_licence":
        assert len(d) == 12, span
    elif typ == "postal_code":
        assert len(d) == 7, span
    elif typ == "pension_number":
        assert len(d) == 10, span
    elif typ == "passport":
        n = unicodedata.normalize("NFKC", span).replace(" ", "")
        assert re.fullmatch(r"[A-Z]{2}\d{7}", n), span
    elif typ == "email":
        assert "@" in unicodedata.normalize("NFKC", span), span


def audit_unlabelled(text: str, ents: list[dict[str, Any]]) -> list[str]:
    """Report digit runs outside labelled spans that pass a checksum (for the author's review)."""
    notes = []
    covered = [(e["start"], e["end"]) for e in ents]
    for m in re.finditer(r"[0-9０-９](?:[0-9０-９]|[ \-－\u3000](?=[0-9０-９]))*", text):
        if any(s <= m.start() < e for s, e in covered):
            continue
        d = digits(m.group())
        if len(d) == 12 and mn_valid(d):
            notes.append(f"unlabelled MN-valid {m.group()!r}")
        if len(d) == 13 and corp_valid(d):
            notes.append(f"unlabelled corp-valid {m.group()!r}")
        if 13 <= len(d) <= 19 and luhn_ok(d):
            notes.append(f"unlabelled Luhn-valid {m.group()!r}")
    return notes


def main() -> None:
    rows = []
    counts: dict[str, int] = {}
    n_neg = 0
    for text, specs, source in EX:
        spans: list[tuple[str, int, int]] = []
        for spec in specs:
            spans += resolve(text, spec)
        spans.sort(key=lambda x: x[1])
        for a, b in itertools.pairwise(spans):
            assert a[2] <= b[1], f"overlap {a} {b} in {text!r}"
        ents = [{"type": t, "start": s, "end": e} for t, s, e in spans]
        for t, s, e in spans:
            assert text[s:e].strip() == text[s:e], (text[s:e],)
            validate(t, text[s:e])
            counts[t] = counts.get(t, 0) + 1
        for note in audit_unlabelled(text, ents):
            print(f"[audit] {source}: {note}")
        if not spans:
            n_neg += 1
        rows.append({"text": text, "entities": ents, "source": source})
    texts = [r["text"] for r in rows]
    assert len(set(texts)) == len(texts), "duplicate texts"
    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} texts ({n_neg} with no entities) to {OUT}")
    for t in sorted(counts):
        print(f"  {t:24} {counts[t]}")


if __name__ == "__main__":
    main()
