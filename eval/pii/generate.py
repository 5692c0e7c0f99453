"""Deterministic generator for the PII evaluation set (eval/pii/dataset.jsonl).

Labels come from construction: every entity value is appended through
``Doc.ent`` which records its span, so the detector never labels its own
test data. Run: ``python eval/pii/generate.py`` (fixed seed, same output).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

SEED = 20240601
N_DOCS = 420
OUT = Path(__file__).with_name("dataset.jsonl")

R = random.Random(SEED)

Piece = tuple[str, str | None]  # text, entity type (None = plain text)

FW = str.maketrans(
    "0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "０１２３４５６７８９－ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ"
    "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ",
)


def maybe_fw(s: str, p: float = 0.2) -> str:
    return s.translate(FW) if R.random() < p else s


def digits(n: int) -> str:
    return "".join(R.choice("0123456789") for _ in range(n))


# --- checksummed identifiers (independent re-implementations) ------------


def my_number(valid: bool = True) -> str:
    base = digits(11)
    total = sum(int(p) * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(reversed(base), 1))
    check = 0 if total % 11 <= 1 else 11 - total % 11
    if not valid:
        check = (check + R.randint(1, 9)) % 10
    return base + str(check)


def corporate(valid: bool = True) -> str:
    base = digits(12)
    total = sum(int(p) * (1 if n % 2 else 2) for n, p in enumerate(reversed(base), 1))
    check = 9 - total % 9
    if not valid:
        check = (check + R.randint(1, 8)) % 10
        if check == 9 - total % 9:
            check = (check + 1) % 10
    return str(check) + base


def luhn_complete(prefix: str, length: int, valid: bool = True) -> str:
    body = prefix + digits(length - len(prefix) - 1)
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    check = (10 - total % 10) % 10
    if not valid:
        check = (check + R.randint(1, 9)) % 10
    return body + str(check)


# --- value generators: each returns pieces --------------------------------

SURNAMES = [
    ("佐藤", "Sato"),
    ("鈴木", "Suzuki"),
    ("高橋", "Takahashi"),
    ("田中", "Tanaka"),
    ("伊藤", "Ito"),
    ("渡辺", "Watanabe"),
    ("山本", "Yamamoto"),
    ("中村", "Nakamura"),
    ("小林", "Kobayashi"),
    ("加藤", "Kato"),
    ("吉田", "Yoshida"),
    ("山田", "Yamada"),
    ("佐々木", "Sasaki"),
    ("山口", "Yamaguchi"),
    ("井上", "Inoue"),
    ("木村", "Kimura"),
    ("斎藤", "Saito"),
    ("清水", "Shimizu"),
    ("山崎", "Yamazaki"),
    ("池田", "Ikeda"),
    ("橋本", "Hashimoto"),
    ("阿部", "Abe"),
    ("石川", "Ishikawa"),
    ("前田", "Maeda"),
    ("藤田", "Fujita"),
    ("後藤", "Goto"),
    ("近藤", "Kondo"),
    ("村上", "Murakami"),
    ("遠藤", "Endo"),
    ("青木", "Aoki"),
    ("坂本", "Sakamoto"),
    ("岡田", "Okada"),
    ("長谷川", "Hasegawa"),
    ("森田", "Morita"),
]
GIVEN = [
    ("太郎", "Taro"),
    ("花子", "Hanako"),
    ("健一", "Kenichi"),
    ("美咲", "Misaki"),
    ("翔太", "Shota"),
    ("陽菜", "Hina"),
    ("大輔", "Daisuke"),
    ("由美", "Yumi"),
    ("直樹", "Naoki"),
    ("拓也", "Takuya"),
    ("浩二", "Koji"),
    ("真由美", "Mayumi"),
    ("優子", "Yuko"),
    ("和也", "Kazuya"),
    ("千尋", "Chihiro"),
    ("健太", "Kenta"),
    ("彩", "Aya"),
    ("大樹", "Daiki"),
    ("明美", "Akemi"),
    ("誠", "Makoto"),
    ("裕子", "Yuko"),
    ("隆", "Takashi"),
    ("恵子", "Keiko"),
    ("悠斗", "Yuto"),
    ("さくら", "Sakura"),
]
HONORIFICS = ["様", "さん", "氏", "様", "さん", "先生", "殿"]


def jname() -> list[Piece]:
    s, g = R.choice(SURNAMES)[0], R.choice(GIVEN)[0]
    form = R.random()
    if form < 0.55:
        return [(s + g, "person_name"), (R.choice(HONORIFICS), None)]
    if form < 0.7:
        return [(s + "\u3000" + g if R.random() < 0.5 else s + " " + g, "person_name"), ("様", None)]
    if form < 0.9:
        return [(s, "person_name"), (R.choice(HONORIFICS), None)]
    return [(s + g, "person_name")]


def latin_name() -> list[Piece]:
    s, g = R.choice(SURNAMES)[1], R.choice(GIVEN)[1]
    form = R.random()
    if form < 0.3:
        return [(R.choice(["Mr. ", "Ms. ", "Dr. "]), None), (g + " " + s, "person_name")]
    if form < 0.55:
        return [("Dear ", None), (g + " " + s, "person_name"), (",", None)]
    if form < 0.8:
        return [(s + " " + g, "person_name"), ("様", None)]
    return [("Best regards,\n", None), (g + " " + s, "person_name")]


def phone() -> list[Piece]:
    kind = R.random()
    if kind < 0.25:
        v = f"0{R.choice('3456')}-{digits(4)}-{digits(4)}"
    elif kind < 0.5:
        v = f"{R.choice(['090', '080', '070'])}-{digits(4)}-{digits(4)}"
    elif kind < 0.6:
        v = f"0{R.randint(11, 99)}{R.randint(1, 9)}-{digits(2)}-{digits(4)}"
    elif kind < 0.68:
        v = f"0120-{digits(3)}-{digits(3)}"
    elif kind < 0.74:
        v = f"050-{digits(4)}-{digits(4)}"
    elif kind < 0.82:
        v = f"+81-{R.choice(['90', '80', '3'])}-{digits(4)}-{digits(4)}"
    elif kind < 0.9:
        v = f"(0{R.choice('36')}){digits(4)}-{digits(4)}"
    else:
        v = f"{R.choice(['090', '080'])}{digits(8)}"
    return [(maybe_fw(v), "phone")]


def postal() -> list[Piece]:
    v = f"{digits(3)}-{digits(4)}"
    return [("〒", None), (maybe_fw(v), "postal_code")]


ADDR = [
    ("東京都", "千代田区", ["丸の内", "大手町", "神田小川町", "有楽町"]),
    ("東京都", "新宿区", ["西新宿", "高田馬場", "神楽坂"]),
    ("大阪府", "大阪市北区", ["梅田", "中之島", "天満"]),
    ("神奈川県", "横浜市西区", ["みなとみらい", "高島", "南幸"]),
    ("愛知県", "名古屋市中村区", ["名駅", "椿町"]),
    ("北海道", "札幌市中央区", ["大通西", "南三条西"]),
    ("福岡県", "福岡市博多区", ["博多駅前", "中洲"]),
    ("埼玉県", "さいたま市大宮区", ["桜木町", "大門町"]),
    ("兵庫県", "神戸市中央区", ["三宮町", "元町通"]),
    ("宮城県", "仙台市青葉区", ["一番町", "中央"]),
    ("広島県", "広島市中区", ["紙屋町", "八丁堀"]),
    ("長野県", "松本市", ["中央", "深志"]),
    ("沖縄県", "那覇市", ["久茂地", "松山"]),
    ("石川県", "金沢市", ["広坂", "香林坊"]),
    ("群馬県", "高崎市", ["八島町", "栄町"]),
    ("茨城県", "つくば市", ["竹園", "吾妻"]),
    ("千葉県", "船橋市", ["本町", "湊町"]),
    ("静岡県", "浜松市中央区", ["砂山町", "鍛冶町"]),
]
KANJI_NUM = "一二三四五六七八九"


def address() -> list[Piece]:
    pref, city, towns = R.choice(ADDR)
    town = R.choice(towns)
    a, b, c = R.randint(1, 9), R.randint(1, 30), R.randint(1, 20)
    form = R.random()
    if form < 0.4:
        block = maybe_fw(f"{a}-{b}-{c}")
    elif form < 0.6:
        block = f"{a}丁目{b}番{c}号"
    elif form < 0.75:
        block = f"{KANJI_NUM[a - 1]}丁目{b}番{c}号"
    elif form < 0.88:
        block = f"{a}丁目{b}-{c}"
    else:
        block = f"{R.randint(100, 999)}番地"
    head = pref + city if R.random() < 0.85 or city.endswith("町") else city
    if not re.search("[市区]", head) or (
        head == city and city not in {"大阪市北区", "横浜市西区", "新宿区", "千代田区"}
    ):
        head = pref + city
    building = R.choice(["", "", " サンプルビル5F", " 第二ビル 301", " グランドタワー12階"])
    # The building and room belong to the address (they locate the person as much as the block does).
    return [(head + town + block + building, "address")]


def email() -> list[Piece]:
    g, s = R.choice(GIVEN)[1].lower(), R.choice(SURNAMES)[1].lower()
    local = R.choice([f"{g}.{s}", f"{s}{R.randint(1, 99)}", f"{g[0]}-{s}", f"{g}+news", f"{s}_{g}"])
    dom = R.choice(["example.co.jp", "mail.example.com", "sample.jp", "corp.example.ne.jp", "Example.COM"])
    return [(local + "@" + dom, "email")]


def ip() -> list[Piece]:
    if R.random() < 0.75:
        return [(f"{R.randint(1, 223)}.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}", "ip_address")]
    groups = [f"{R.randint(0, 65535):x}" for _ in range(4)]
    return [(f"2001:db8:{groups[0]}:{groups[1]}::{groups[2]}", "ip_address")]


def dob() -> list[Piece]:
    y, m, d = R.randint(1940, 2005), R.randint(1, 12), R.randint(1, 28)
    form = R.random()
    if form < 0.3:
        return [("生年月日：", None), (maybe_fw(f"{y}年{m}月{d}日"), "date_of_birth")]
    if form < 0.5:
        era, base = ("昭和", 1925) if y < 1989 else ("平成", 1988)
        return [("生年月日 ", None), (f"{era}{y - base}年{m}月{d}日", "date_of_birth")]
    if form < 0.65:
        letter, base = ("S", 1925) if y < 1989 else ("H", 1988)
        return [(f"{letter}{y - base}.{m}.{d}", "date_of_birth"), ("生まれ", None)]
    if form < 0.8:
        return [("DOB: ", None), (f"{y}-{m:02d}-{d:02d}", "date_of_birth")]
    if form < 0.9:
        months = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ]
        return [("born on ", None), (f"{months[m - 1]} {d}, {y}", "date_of_birth")]
    return [("誕生日は", None), (f"{y}/{m:02d}/{d:02d}", "date_of_birth")]


def mynum() -> list[Piece]:
    v = my_number()
    if R.random() < 0.4:
        v = f"{v[:4]} {v[4:8]} {v[8:]}"
    return [(R.choice(["マイナンバー：", "個人番号 ", "My Number: "]), None), (maybe_fw(v), "my_number")]


def corp() -> list[Piece]:
    return [(R.choice(["法人番号：", "法人番号 ", "Corporate Number: "]), None), (corporate(), "corporate_number")]


def card() -> list[Piece]:
    if R.random() < 0.2:
        v = luhn_complete("37", 15)
        v = f"{v[:4]}-{v[4:10]}-{v[10:]}"
    else:
        v = luhn_complete(R.choice(["4", "51", "53", "35"]), 16)
        sep = R.choice(["-", " ", ""])
        v = sep.join(v[i : i + 4] for i in range(0, 16, 4))
    return [(R.choice(["カード番号：", "クレジットカード ", "card number "]), None), (maybe_fw(v, 0.15), "credit_card")]


def insurer() -> list[Piece]:
    v = (
        luhn_complete(R.choice(["06", "01", "31", "32", "34"]) + digits(2), 8)
        if R.random() < 0.75
        else luhn_complete(digits(2), 6)
    )
    return [("保険者番号：", None), (v, "health_insurer_number")]


def insured() -> list[Piece]:
    if R.random() < 0.5:
        return [("被保険者証記号・番号: ", None), (f"{digits(4)}-{digits(3)}", "insurance_number")]
    return [("被保険者番号 ", None), (digits(8), "insurance_number")]


def bank() -> list[Piece]:
    b = R.choice(["みずほ銀行", "三菱UFJ銀行", "三井住友銀行", "りそな銀行", "ゆうちょ銀行"])
    br = R.choice(["渋谷支店", "本店営業部", "梅田支店", "横浜駅前支店"])
    if R.random() < 0.6:
        return [(f"{b} {br} 普通 ", None), (digits(7), "bank_account")]
    return [(f"振込先：{b}{br} 口座番号 ", None), (digits(7), "bank_account")]


def passport() -> list[Piece]:
    v = R.choice(["TK", "TR", "MZ", "TZ"]) + digits(7)
    return [(R.choice(["旅券番号 ", "パスポート番号：", "Passport No. "]), None), (v, "passport")]


def licence() -> list[Piece]:
    return [
        (R.choice(["運転免許証番号 ", "免許証番号：", "Driver's license: "]), None),
        (digits(12), "drivers_licence"),
    ]


def pension() -> list[Piece]:
    return [("基礎年金番号 ", None), (f"{digits(4)}-{digits(6)}", "pension_number")]


# --- hard negatives: look like identifiers, are not ----------------------


def invalid_12() -> str:
    return my_number(valid=False)


def hard_negative() -> list[Piece]:
    k = R.randrange(12)
    if k == 0:
        return [(f"注文番号：ORD-{R.randint(2019, 2025)}-{digits(6)}", None)]
    if k == 1:
        return [(f"管理番号 {invalid_12()}", None)]
    if k == 2:
        return [(f"型番 ABC-{digits(4)}-{digits(2)}", None)]
    if k == 3:
        return [(f"{R.randint(2020, 2025)}-{R.randint(1, 12):02d}-{R.randint(1, 28):02d}に納品予定", None)]
    if k == 4:
        return [(f"伝票番号 {maybe_fw(invalid_12(), 0.3)}", None)]
    if k == 5:
        return [(f"合計金額 ¥{R.randint(1, 999)},{digits(3)},{digits(3)}", None)]
    if k == 6:
        return [(f"請求書番号 INV-{R.randint(2020, 2025)}{digits(4)}-{digits(3)}", None)]
    if k == 7:
        return [(f"JANコード {corporate(valid=False)}", None)]
    if k == 8:
        return [(f"追跡番号 {luhn_complete('4', 16, valid=False)}", None)]
    if k == 9:
        return [(f"バージョン v{R.randint(1, 9)}.{R.randint(0, 20)}.{R.randint(0, 9)}", None)]
    if k == 10:
        return [
            (f"会議は{R.randint(2020, 2025)}年{R.randint(1, 12)}月{R.randint(1, 28)}日 {R.randint(9, 18)}:30から", None)
        ]
    return [(f"受付番号 {R.randint(100000, 999999)}-{digits(2)}", None)]


SLOTS: dict[str, Callable[[], list[Piece]]] = {
    "jname": jname,
    "lname": latin_name,
    "phone": phone,
    "postal": postal,
    "address": address,
    "email": email,
    "ip": ip,
    "dob": dob,
    "mynum": mynum,
    "corp": corp,
    "card": card,
    "insurer": insurer,
    "insured": insured,
    "bank": bank,
    "passport": passport,
    "licence": licence,
    "pension": pension,
    "neg": hard_negative,
}

TEMPLATES = [
    # business email (ja)
    "{jname}\nいつもお世話になっております。株式会社サンプル営業部です。\n先日の件、ご確認ありがとうございます。"
    "{neg}についてご連絡いたします。\n担当：{jname}\nTEL：{phone}\nMail：{email}\n{postal} {address}",
    "お疲れさまです。{jname}から依頼のあった資料を送付します。{neg}。\n"
    "不明点は{phone}までお電話ください。{jname}にもCCしています。",
    "【ご請求書送付のご案内】\n{jname}\n{neg}\n{neg}\nお振込先：{bank}\n{corp}\n発行元：{postal} {address}",
    # support chat
    "顧客：配送先を変更したいです。{postal} {address}に送ってください。電話は{phone}です。\n"
    "オペレーター：承知しました。{neg}で確認します。",
    "お客様：登録メールアドレスを{email}に変更したいです。\n担当：かしこまりました、{jname}。{neg}",
    "チャット履歴：ログイン不可の問い合わせ。接続元IP {ip}。ユーザー {email}。{neg}",
    "お客様よりクレジットカードの変更依頼。{card}。有効期限は別途確認。{neg}",
    # HR
    "人事メモ：新入社員{jname}の手続き。{mynum}、{dob}。\n住所：{address}\n緊急連絡先 {phone}\n{pension}",
    "従業員情報更新\n氏名：{jname}\n{insurer}\n{insured}\n{licence}\n{neg}",
    "出張手配：{jname}の{passport}。{dob}。連絡先{phone}。",
    # medical-style note
    "診療メモ：患者 {jname}、{dob}。既往歴：糖尿病。{insurer} {insured}\n住所 {address}\n{neg}",
    "紹介状\n{jname}\n下記患者の診察をお願いします。{jname}、{dob}、電話{phone}。",
    # invoice
    "請求書\n{corp}\n{postal} {address}\n{neg}\n{neg}\n振込先：{bank}\nお問い合わせ：{phone} / {email}",
    # English
    "{lname}\nThank you for your order. {neg}. Please contact us at {email} or {phone}.\n{lname}",
    "Hello team, the server at {ip} was accessed by {email}. {neg}. Contact {lname} for details.",
    "Patient record: {lname}, {dob}. Address: {postal} {address}. {passport}.",
    "{lname}\nYour card {card} has been charged. {neg}. Ship to {address}.",
    # negatives only
    "{neg}。{neg}。{neg}。確認をお願いします。",
    "Meeting notes: {neg}. {neg}. Next review next week.",
]


class Doc:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.ents: list[dict[str, object]] = []
        self.pos = 0

    def add(self, text: str, type_: str | None) -> None:
        if type_ is not None:
            self.ents.append({"type": type_, "start": self.pos, "end": self.pos + len(text)})
        self.parts.append(text)
        self.pos += len(text)

    def text(self) -> str:
        return "".join(self.parts)


def build(template: str) -> dict[str, object]:
    doc = Doc()
    last = 0
    for m in re.finditer(r"\{(\w+)\}", template):
        doc.add(template[last : m.start()], None)
        for text, type_ in SLOTS[m.group(1)]():
            doc.add(text, type_)
        last = m.end()
    doc.add(template[last:], None)
    return {"text": doc.text(), "entities": doc.ents}


def main() -> None:
    rows = [build(TEMPLATES[i % len(TEMPLATES)]) for i in range(N_DOCS)]
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    n = sum(len(e) for r in rows if isinstance(e := r["entities"], list))
    print(f"wrote {len(rows)} texts, {n} entities to {OUT}")


if __name__ == "__main__":
    main()
