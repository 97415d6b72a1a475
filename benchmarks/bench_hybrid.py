"""Recall@5 of the collection search modes (vector, keyword, hybrid) on a small retrieval set.

The set: 55 short catalogue / support / notice sentences, many carrying the things vector
embeddings blur (product codes, part numbers, model names, figures), and 30 queries written
for them (15 of the sentences are siblings of coded ones: another code, the
same kind of thing), each with the one sentence that answers it. Half the queries are "keyword-ish"
(they name a code, a number or a name), half are paraphrases that share few words with
their answer. Every mode runs through the real route (POST /v1/collections/{name}/search),
with minilm embedding texts and queries.

    PYTHONPATH=src python benchmarks/bench_hybrid.py
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from mmserve.app import create_app
from mmserve.config import Config, ModelConfig

DOCS = {
    "d01": "The XJ-9000 cordless drill ships with two 18 V batteries and a 13 mm chuck.",
    "d02": "Model XJ-9100 adds a brushless motor and a hammer setting to the drill range.",
    "d03": "Replace filter part FLT-2231 every six months to keep the purifier quiet.",
    "d04": "Part FLT-2213 is the carbon pre-filter; it is washable and lasts two years.",
    "d05": "Order number 55-1872-04 was dispatched from the Rotterdam warehouse on Tuesday.",
    "d06": "Invoice INV-77341 is overdue by 14 days; a reminder was sent to accounts.",
    "d07": "Error E1043 on the dishwasher means the drain pump is blocked.",
    "d08": "Error E1034 means the water inlet valve did not open within 90 seconds.",
    "d09": "The Kestrel K2 kayak weighs 14.5 kg and is 3.9 metres long.",
    "d10": "The Osprey O3 canoe seats three adults and carries up to 320 kg.",
    "d11": "Firmware 4.2.17 fixes the Bluetooth pairing bug on the Aria headphones.",
    "d12": "Firmware 4.2.7 added a low-latency mode for gaming on the Aria headphones.",
    "d13": "Room B-214 hosts the Thursday budget review at 10:30.",
    "d14": "The fire assembly point for building C is the north car park.",
    "d15": "Dr. Okonkwo-Bailey sees cardiology patients on Mondays and Wednesdays.",
    "d16": "Nurse Lindqvist runs the vaccination clinic every Friday morning.",
    "d17": "The M8x40 stainless hex bolts come in packs of 50.",
    "d18": "M6x20 zinc-plated screws are sold in boxes of 200.",
    "d19": "Train IC 2417 to Utrecht leaves from platform 7 at 08:52.",
    "d20": "Bus line 38 no longer stops at Marktplein during the roadworks.",
    "d21": "The Q3 revenue was 4.81 million euros, up 12 percent on last year.",
    "d22": "Headcount grew to 312 employees after the spring hiring round.",
    "d23": "Ticket SUP-40912: customer cannot reset the password on the mobile app.",
    "d24": "Ticket SUP-40921: the export to CSV drops accented characters.",
    "d25": "The Zephyr Z5 fan has three speeds and an oscillation angle of 80 degrees.",
    "d26": "Our standing desks lift from 62 to 128 cm at the press of a button.",
    "d27": "Lot 7731-B of the yoghurt is recalled because of a labelling error.",
    "d28": "The pharmacy is closed on public holidays; use the night service instead.",
    "d29": "A puppy needs four small meals a day until it is three months old.",
    "d30": "Cats often sleep twelve to sixteen hours a day.",
    "d31": "Water the tomato seedlings in the morning so the leaves dry by evening.",
    "d32": "Sourdough needs a starter fed with flour and water for about a week.",
    "d33": "The library extends loans online if nobody has reserved the book.",
    "d34": "Lost luggage claims must be filed within seven days of the flight.",
    "d35": "The hotel shuttle runs every 20 minutes between the terminal and the lobby.",
    "d36": "Swimming lessons for children start at the age of four.",
    "d37": "Our helpdesk answers calls between eight in the morning and six in the evening.",
    "d38": "Winter tyres are required on mountain roads from November to March.",
    "d39": "Recycle glass bottles in the green containers behind the supermarket.",
    "d40": "The museum is free on the first Sunday of every month.",
    # Siblings of the coded items: same kind of thing, another code, as a real catalogue has.
    "d41": "The XJ-8000 corded drill has a 10 mm chuck and a 600 W motor.",
    "d42": "Replace filter part FLT-2132 every year in the larger purifier.",
    "d43": "Order number 55-1827-04 is waiting for payment before dispatch.",
    "d44": "Invoice INV-77314 was paid in full on the 3rd.",
    "d45": "Error E1403 on the washing machine means the door is not latched.",
    "d46": "The Kestrel K3 kayak weighs 17 kg and has a rudder.",
    "d47": "Firmware 4.1.17 improved battery life on the Aria headphones.",
    "d48": "Room B-241 is booked for the Thursday design review at 10:30.",
    "d49": "Dr. Okafor sees dermatology patients on Mondays.",
    "d50": "The M8x60 stainless hex bolts come in packs of 25.",
    "d51": "Train IC 2471 to Utrecht leaves from platform 5 at 09:22.",
    "d52": "Ticket SUP-40129: the export to PDF cuts off long tables.",
    "d53": "The Zephyr Z3 fan has two speeds and no oscillation.",
    "d54": "Lot 7713-B of the yoghurt passed its quality check.",
    "d55": "Nurse Lindgren runs the blood donation clinic every Friday morning.",
}
KEYWORD_QUERIES = {
    "XJ-9000 battery voltage": "d01",
    "FLT-2231": "d03",
    "order 55-1872-04": "d05",
    "INV-77341": "d06",
    "E1043": "d07",
    "Kestrel K2 weight": "d09",
    "firmware 4.2.17": "d11",
    "room B-214": "d13",
    "Okonkwo-Bailey": "d15",
    "M8x40 bolts": "d17",
    "IC 2417 platform": "d19",
    "SUP-40921": "d24",
    "Zephyr Z5": "d25",
    "lot 7731-B": "d27",
    "Lindqvist": "d16",
}
SEMANTIC_QUERIES = {
    "how long do kittens and cats nap": "d30",
    "how often should I feed a young dog": "d29",
    "when to irrigate young plants": "d31",
    "making bread with a fermented culture": "d32",
    "renewing a borrowed book over the internet": "d33",
    "my suitcase did not arrive, how long do I have to complain": "d34",
    "transport from the airport to the hotel": "d35",
    "at what age can kids learn to swim": "d36",
    "opening hours of customer support by phone": "d37",
    "snow tyres in the Alps": "d38",
    "where do I throw away empty wine bottles": "d39",
    "when can I visit the art gallery without paying": "d40",
    "adjustable height office table": "d26",
    "where to gather during a fire alarm": "d14",
    "medicine shop opening on holidays": "d28",
}
MODES = ("vector", "keyword", "hybrid")


def recall_at(client, queries: dict[str, str], mode: str, k: int) -> float:
    found = 0
    for query, answer in queries.items():
        body = {"query": query, "top_k": k, "mode": mode}
        response = client.post("/v1/collections/bench/search", json=body)
        assert response.status_code == 200, response.get_json()
        found += answer in [hit["id"] for hit in response.get_json()["data"]]
    return found / len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        config = Config(data_dir=Path(data_dir), models=(ModelConfig(id="minilm", workers=1),))
        app = create_app(config, wait_for_models=True)
        try:
            client = app.test_client()
            client.post("/v1/collections", json={"name": "bench", "model": "minilm"})
            items = [{"id": key, "content": text} for key, text in DOCS.items()]
            response = client.post("/v1/collections/bench/items", json={"items": items})
            assert response.status_code == 200, response.get_json()
            sets = {
                f"keyword-ish ({len(KEYWORD_QUERIES)})": KEYWORD_QUERIES,
                f"paraphrase ({len(SEMANTIC_QUERIES)})": SEMANTIC_QUERIES,
                f"all ({len(KEYWORD_QUERIES) + len(SEMANTIC_QUERIES)})": {
                    **KEYWORD_QUERIES,
                    **SEMANTIC_QUERIES,
                },
            }
            print(f"{len(DOCS)} documents, minilm\n")
            print("| queries | k | " + " | ".join(MODES) + " |")
            print("|---|---|" + "---|" * len(MODES))
            for name, queries in sets.items():
                for k in args.k:
                    cells = [f"{recall_at(client, queries, mode, k):.2f}" for mode in MODES]
                    print(f"| {name} | recall@{k} | " + " | ".join(cells) + " |")
        finally:
            services = app.extensions["mmserve"]
            services.jobs.stop()
            services.pool.stop()
            services.store.close()


if __name__ == "__main__":
    main()
