"""Which placeholder forms does a real model keep intact? Measured on the embedded SmolLM2.

For each form, the model gets realistic tasks whose answer should repeat a placeholder (reply to a
customer, summarise a note, extract a field) and we count answers that contain the placeholder
exactly, in a form that can be matched after normalisation, or not at all (dropped or mangled).
Greedy decoding and fixed seeds, so the run is repeatable. Run:
    .venv/bin/python eval/placeholders/preservation.py
"""

from __future__ import annotations

import asyncio
import threading

from onshore.protect.placeholders import TOLERANT, canonical
from onshore.route.backends.embedded.model import EmbeddedModel, Generated, GenerationParams, default_model_path

FORMS = {
    "[[PERSON_NAME_1]] (Onshore's)": ("[[PERSON_NAME_1]]", "[[PHONE_1]]", "[[EMAIL_1]]"),
    "<PERSON_NAME_1>": ("<PERSON_NAME_1>", "<PHONE_1>", "<EMAIL_1>"),
    "{{PERSON_NAME_1}}": ("{{PERSON_NAME_1}}", "{{PHONE_1}}", "{{EMAIL_1}}"),
    "⟦PERSON_NAME_1⟧": ("⟦PERSON_NAME_1⟧", "⟦PHONE_1⟧", "⟦EMAIL_1⟧"),
    "PERSON_NAME_1 (bare)": ("PERSON_NAME_1", "PHONE_1", "EMAIL_1"),
}

TASKS = [
    "Write a one-sentence reply to {name} confirming that we will call back at {phone}.",
    "Repeat exactly: The customer {name} can be reached at {phone} or {email}.",
    "Extract the phone number from this note: 'Call {name} tomorrow on {phone}.' Answer with the number only.",
    "Write a short email greeting that starts with 'Dear {name},'.",
    "{name}様からお問い合わせがありました。電話番号は{phone}です。返信の書き出しを一文で書いてください。",
    "Summarise in one sentence: {name} ({email}) asked to change the delivery address. Phone: {phone}.",
]


async def main() -> None:
    model = EmbeddedModel(default_model_path(), threads=2, context_tokens=2048, embeddings=False)
    await model.load()
    params = GenerationParams(max_tokens=80, temperature=0.0, top_p=1.0, stop=(), seed=1)
    print(f"model {model.name}, greedy, {len(TASKS)} tasks per form")
    print(
        "| form | answers with ≥1 placeholder kept exactly | placeholders kept exactly | recovered by "
        "tolerant matching | dropped or mangled |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, (name, phone, email) in FORMS.items():
        answers_ok = exact = tolerant = lost = 0
        for task in TASKS:
            prompt = task.format(name=name, phone=phone, email=email)
            expected = [p for p in (name, phone, email) if p in prompt]
            out: list[str] = []
            await model.worker.run(
                model.generate,
                [{"role": "user", "content": prompt}],
                params,
                threading.Event(),
                out.append,
                Generated(),
            )
            answer = "".join(out)
            kept = [p for p in expected if p in answer]
            answers_ok += bool(kept)
            exact += len(kept)
            found = {canonical(m.group()) for m in TOLERANT.finditer(answer)} if label.startswith("[[") else set()
            tolerant += sum(1 for p in expected if p not in answer and canonical(p) in found)
            lost += sum(1 for p in expected if p not in answer and canonical(p) not in found)
        total = exact + tolerant + lost
        print(f"| {label} | {answers_ok}/{len(TASKS)} | {exact}/{total} | {tolerant}/{total} | {lost}/{total} |")
    await model.aclose()


if __name__ == "__main__":
    asyncio.run(main())
