"""The console's words in English and Japanese. A missing key is a test failure, never a blank."""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("ja", "en")

# key -> (English, 日本語)
TEXT: Mapping[str, tuple[str, str]] = {
    "title": ("Onshore console", "Onshore 管理コンソール"),
    "nav.residency": ("Residency map", "データ所在マップ"),
    "nav.decisions": ("Decisions", "判定履歴"),
    "nav.audit": ("Audit", "監査ログ"),
    "nav.controls": ("Kill switch & keys", "停止スイッチと API キー"),
    "nav.reports": ("Reports", "レポート"),
    "signed_in_as": ("Signed in as", "ログイン中"),
    "roles": ("Roles", "ロール"),
    "logout": ("Sign out", "ログアウト"),
    "login.title": ("Sign in", "ログイン"),
    "login.oidc": ("Sign in with your identity provider", "ID プロバイダーでログイン"),
    "login.key": ("Admin key or API key with a console role", "管理キー、またはコンソール用ロールを持つ API キー"),
    "login.key_button": ("Sign in with key", "キーでログイン"),
    "login.failed": ("Sign-in refused: {why}", "ログインできません: {why}"),
    "login.nokey": (
        "That key is not the admin key nor an API key with a console role.",
        "管理キーでも、コンソール用ロールを持つ API キーでもありません。",
    ),
    "sessions.unavailable": (
        "Console sessions are kept in Redis, which cannot be reached now: try again shortly.",
        "コンソールのセッションを保存する Redis に接続できません。しばらくしてから再試行してください。",
    ),
    "login.norole": (
        "Your account has no console role (admin, operator or auditor).",
        "アカウントにコンソール用ロール（admin、operator、auditor）がありません。",
    ),
    "login.continue": ("Signed in. Continue to the console.", "ログインしました。コンソールへ進みます。"),
    "backend": ("Backend", "バックエンド"),
    "processing": ("Processing", "処理国"),
    "storage": ("Storage", "保存国"),
    "region": ("Region", "リージョン"),
    "operator": ("Operator (home country)", "運営者（本拠国）"),
    "retention": ("Retention", "保持期間"),
    "days": ("{n} days", "{n} 日"),
    "training": ("Trains on inputs", "入力を学習に利用"),
    "yes": ("yes", "あり"),
    "no": ("no", "なし"),
    "state": ("State", "状態"),
    "models": ("Models", "モデル"),
    "state.enabled": ("enabled", "稼働中"),
    "state.disabled": ("disabled by kill switch", "停止スイッチで停止"),
    "state.breaker_open": ("circuit breaker open", "サーキットブレーカー作動中"),
    "by": ("by {actor}", "{actor} による"),
    "policy": ("Who may use what", "テナント・データ区分ごとの利用可否"),
    "policy.hash": ("Policy hash", "ポリシーハッシュ"),
    "tenant": ("Tenant", "テナント"),
    "data_class": ("Data class", "データ区分"),
    "model": ("Model", "モデル"),
    "rule": ("Rule", "ルール"),
    "allowed": ("Allowed (in order)", "利用可（優先順）"),
    "excluded": ("Excluded, and why", "除外とその理由"),
    "denied": ("DENIED", "拒否"),
    "unavailable_now": ("switched off now", "現在停止中"),
    "all": ("all", "すべて"),
    "filter": ("Filter", "絞り込み"),
    "time": ("Time (UTC)", "時刻（UTC）"),
    "principal": ("Key / principal", "キー／主体"),
    "outcome": ("Outcome", "結果"),
    "decision": ("Decision", "判定"),
    "jurisdiction": ("Jurisdiction", "法域"),
    "personal_data": ("Personal data (types, actions)", "個人情報（種類と処置）"),
    "pseudonymised_for": ("pseudonymised for {b}", "{b} 向けに仮名化"),
    "blocked_for": ("blocked for {b}", "{b} には送信せず"),
    "none": ("none", "なし"),
    "no_content": (
        "No prompt or answer text is recorded or shown: only decisions, digests and counts.",
        "プロンプトや回答の本文は記録も表示もしません（判定・ダイジェスト・件数のみ）。",
    ),
    "decisions.window": ("Newest {n} requests since {since}", "{since} 以降の最新 {n} 件"),
    "decisions.empty": ("No requests match.", "該当するリクエストはありません。"),
    "decisions.live": ("Refreshes every few seconds.", "数秒ごとに自動更新します。"),
    "receipt.title": ("Verify a receipt", "レシートの検証"),
    "receipt.paste": ("Paste the Onshore-Receipt header of an answer", "回答の Onshore-Receipt ヘッダーを貼り付け"),
    "receipt.verify": ("Verify", "検証"),
    "receipt.valid": ("VALID: signed by this gateway (key {kid})", "有効: このゲートウェイの署名（鍵 {kid}）"),
    "receipt.invalid": ("INVALID: {why}", "無効: {why}"),
    "receipt.matches": ("It matches audit record seq {seq}.", "監査レコード seq {seq} と一致します。"),
    "receipt.differs": (
        "It differs from audit record seq {seq} in: {fields}",
        "監査レコード seq {seq} と不一致: {fields}",
    ),
    "receipt.norecord": (
        "No audit record with this request id ({jti}) was found in the window searched.",
        "このリクエスト ID（{jti}）の監査レコードは検索範囲にありません。",
    ),
    "record.title": ("Audit record seq {seq}", "監査レコード seq {seq}"),
    "audit.length": ("Chain length", "チェーン長"),
    "audit.records": ("{n} records", "{n} 件"),
    "audit.head": ("Head hash", "先頭ハッシュ"),
    "audit.last_checkpoint": ("Last signed checkpoint", "最新の署名付きチェックポイント"),
    "audit.checkpoint_none": ("none yet", "まだありません"),
    "audit.signature_ok": ("signature verifies (key {kid})", "署名は有効（鍵 {kid}）"),
    "audit.signature_bad": ("SIGNATURE DOES NOT VERIFY (key {kid})", "署名が無効です（鍵 {kid}）"),
    "audit.covers": ("covers seq 1..{seq}, signed {at}", "seq 1〜{seq} を保証、署名 {at}"),
    "audit.verify": ("Verify now", "今すぐ検証"),
    "audit.verifying": ("Verifying: {done} of {total} records", "検証中: {done} / {total} 件"),
    "audit.verify_ok": (
        "OK: {records} records, chain intact to seq {seq}; {checkpoints} signed checkpoints verified.",
        "正常: {records} 件、seq {seq} までチェーンは完全。署名付きチェックポイント {checkpoints} 件を検証。",
    ),
    "audit.verify_broken": ("BROKEN: {problem}", "改ざん・欠落を検出: {problem}"),
    "audit.verify_by": ("Run by {actor} at {at}", "{actor} が {at} に実行"),
    "audit.export": (
        "Export records for a period (JSON lines, with checkpoints)",
        "期間を指定してエクスポート（JSON Lines、チェックポイント付き）",
    ),
    "audit.export_button": ("Export", "エクスポート"),
    "since": ("From (UTC)", "開始（UTC）"),
    "until": ("Until (UTC)", "終了（UTC）"),
    "controls.switch": ("Kill switch", "停止スイッチ"),
    "controls.reason": ("Reason (recorded in the audit log)", "理由（監査ログに記録）"),
    "controls.disable": ("Disable", "停止"),
    "controls.enable": ("Enable", "再開"),
    "controls.readonly": (
        "Your role may look but not switch (operator or admin needed).",
        "閲覧のみ可能です（切り替えには operator または admin が必要）。",
    ),
    "controls.no_redis": (
        "The kill switch needs gateway.redis (shared by every replica).",
        "停止スイッチには gateway.redis（全レプリカで共有）が必要です。",
    ),
    "controls.done": ("Recorded and done: {action} {target}.", "記録のうえ実行しました: {action} {target}"),
    "keys.title": ("API keys", "API キー"),
    "keys.id": ("Key id", "キー ID"),
    "keys.name": ("Name", "名前"),
    "keys.floor": ("Floor", "最低データ区分"),
    "keys.created": ("Created (UTC)", "作成（UTC）"),
    "keys.status": ("Status", "状態"),
    "keys.active": ("active", "有効"),
    "keys.revoked": ("revoked {at}", "{at} に失効"),
    "keys.create": ("Create key", "キーを作成"),
    "keys.revoke": ("Revoke", "失効"),
    "keys.created_once": (
        "Key {key_id} created. It is shown only now; store it:",
        "キー {key_id} を作成しました。表示は今回限りです。保管してください:",
    ),
    "keys.admin_only": ("Only an admin may create or revoke keys.", "キーの作成・失効は admin のみ可能です。"),
    "reports.sovereignty": ("Sovereignty report", "データ主権レポート"),
    "reports.sovereignty_help": (
        "Where the requests of a period went and under whose law, from the verified chain, signed.",
        "期間中のリクエストの送信先と適用法域。検証済みの監査チェーンから作成し署名します。",
    ),
    "reports.incident": ("Breach-report draft (APPI)", "漏えい等報告の下書き（個人情報保護法）"),
    "reports.incident_help": (
        "A draft of the items of 施行規則 第8条第1項 for an incident window; never a filing.",
        "施行規則 第8条第1項の報告事項の下書き（提出物ではありません）。",
    ),
    "reports.format": ("Format", "形式"),
    "reports.download": ("Generate and download", "作成してダウンロード"),
    "reports.refused": ("Refused: {why}", "作成できません: {why}"),
    "forbidden": ("This needs the role {roles}.", "この操作には {roles} ロールが必要です。"),
    "busy": (
        "Another verification or report is running; try again in a moment.",
        "他の検証またはレポート作成が実行中です。少し待ってから再試行してください。",
    ),
    "error.title": ("Refused", "拒否されました"),
    "lang.other": ("日本語", "English"),  # the link to the other language, in that language
}


def translate(language: str, key: str, **values: object) -> str:
    english, japanese = TEXT[key]
    text = japanese if language == "ja" else english
    return text.format(**values) if values else text


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """The remembered choice, else the browser's first preference between ja and en (default ja)."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("ja"):
            return "ja"
        if tag.startswith("en"):
            return "en"
    return "ja"
